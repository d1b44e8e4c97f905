// The warm spare server (shim/spare.ts) behind the launcher's `start` (shim/containerd-shim-berth-v2),
// with real parts: the launcher as containerd runs it, real runc containers, the spare adopted
// for a second pod (the pod's shim IS the spare's process), a grouped start answered by the spare
// without using it up, a killed or outdated spare falling back to a cold start, two concurrent
// starts against one spare, and spares leaving by their rule once no pod server is left.
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { writeShimWrapper } from '../../shim/bundle.js';
import { projectRoot } from '../helpers/bundle.js';
import {
  CALL, bundleDir, connectTask, isAlive, makeTaskBundle, rand, runShimAction, runcOptions, shimEnvPerTest, shimPids,
  sparePids, waitUntil, type ShimEnv,
} from './shim-harness.js';
import { google } from '../../proto/index.js';
import { pipe2 } from '../../sys/index.js';

const newEnv = shimEnvPerTest();

/** The pid of a spare that waits (its `ready` file), if any. */
function readySpare(e: ShimEnv): number | undefined {
  const root = path.join(e.socketDir, 'berth-spares');
  for (const d of existsSync(root) ? readdirSync(root).filter((n) => n.startsWith('s.')) : []) {
    try {
      const pid = Number(readFileSync(path.join(root, d, 'ready'), 'utf8'));
      if (pid > 0) return pid;
    } catch {
      // not ready, or claimed
    }
  }
  return undefined;
}

/** What the spare dir holds, for a failure message. */
function spareDirs(e: ShimEnv): Record<string, string[]> {
  const root = path.join(e.socketDir, 'berth-spares');
  return Object.fromEntries((existsSync(root) ? readdirSync(root) : []).map((d) => [d, existsSync(path.join(root, d)) && d !== 'lock' ? readdirSync(path.join(root, d)) : []]));
}

async function waitForSpare(e: ShimEnv, not?: number): Promise<number> {
  let pid: number | undefined;
  expect(await waitUntil(() => (pid = readySpare(e)) !== undefined && pid !== not, 15_000), 'no spare became ready').toBe(true);
  return pid as number;
}

interface Launched {
  e: ShimEnv;
  launcher: string;
  script: string;
}

async function setUp(): Promise<Launched> {
  const e = await newEnv();
  // A copy of the bundle of our own (the version test changes its mtime), beside it so that
  // koffi and pino still resolve from the project's node_modules.
  const script = `${e.shimEntry.replace(/\.cjs$/, '')}-${rand()}.cjs`;
  copyFileSync(e.shimEntry, script);
  onTestFinished(() => rmSync(script, { force: true }));
  return { e, launcher: writeShimWrapper(projectRoot, path.join(e.tmp, 'bin'), script), script };
}

const optionsAny = (e: ShimEnv): Uint8Array => google.protobuf.Any.encode(runcOptions(e) as never).finish();

async function start(l: Launched, id: string, o: { env?: NodeJS.ProcessEnv; stdin?: Uint8Array | { fd: number } } = {}): Promise<string> {
  const { code, out } = await runShimAction(l.e, id, 'start', o.stdin ?? optionsAny(l.e), { launcher: l.launcher, env: o.env });
  if (code !== 0) throw new Error(`start ${id} exited ${code}: ${out.toString()}`);
  return out.toString();
}

/** A node with one pod running (its shim cold-started) and the spare that start made ready. */
async function podAndSpare(): Promise<Launched & { pod: string; podAddress: string; spare: number }> {
  const l = await setUp();
  const pod = `p-${rand()}`;
  await makeTaskBundle(l.e, pod, sandbox(pod));
  const podAddress = await start(l, pod);
  return { ...l, pod, podAddress, spare: await waitForSpare(l.e) };
}

const shimPidOf = (e: ShimEnv, id: string): number => Number(readFileSync(path.join(bundleDir(e, id), 'shim.pid'), 'utf8'));
const argvOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const sandbox = (id: string) => ({ args: ['sleep', '600'], annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': id } });

describe('containerd-shim-berth-v2 warm spare', () => {
  it('a second pod is served by the adopted spare: its pid, argv, env, cwd, nice, stdin options; containers run under it', async () => {
    const l = await podAndSpare();
    const { e, pod: podA, spare } = l;
    expect(sparePids(e.ns)).toEqual([spare]);
    expect(shimPids(e.ns)).toEqual([shimPidOf(e, podA)]); // the spare is not counted as a shim

    // runc through a wrapper that records the env the shim gives its children
    const runcWrapper = path.join(e.tmp, 'runc-env');
    writeFileSync(runcWrapper, `#!/bin/sh\nenv > "${e.tmp}/runc.env"\nexec runc "$@"\n`);
    chmodSync(runcWrapper, 0o755);
    const podB = `b-${rand()}`;
    const dirB = await makeTaskBundle(e, podB, sandbox(podB));
    const stdin = google.protobuf.Any.encode(runcOptions(e, runcWrapper) as never).finish();
    const address = await start(l, podB, { env: { BERTH_TEST_MARK: podB }, stdin });
    expect(shimPidOf(e, podB)).toBe(spare);
    expect(readFileSync(path.join(dirB, 'address'), 'utf8')).toBe(address);
    const argv = argvOf(spare);
    expect(argv.slice(-8)).toEqual(['-namespace', e.ns, '-address', e.address, '-publish-binary', '/usr/bin/containerd', '-id', podB]);
    expect(readFileSync(`/proc/${spare}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]).toBe('0'); // nice back to the caller's
    expect(shimPids(e.ns).sort()).toEqual([shimPidOf(e, podA), spare].sort());

    const task = await connectTask(e, address);
    expect((await task.Connect({ id: podB }, CALL)).shimPid).toBe(spare);
    await task.Create({ id: podB, bundle: dirB, rootfs: [], options: runcOptions(e, runcWrapper) as never }, CALL);
    await task.Start({ id: podB }, CALL);
    const runcEnv = readFileSync(path.join(e.tmp, 'runc.env'), 'utf8');
    expect(runcEnv).toContain(`BERTH_TEST_MARK=${podB}`);
    expect(runcEnv).toContain(`TTRPC_ADDRESS=${e.eventsPath}`);
    expect(runcEnv).not.toMatch(/BERTH_SHIM_(SPARE|START|CALLER)/);
    expect(readlinkSync(`/proc/${spare}/cwd`)).toBe(dirB);

    // a container of pod B: the grouped start answers pod B's address and the spare that
    // answered it stays a spare
    const next = await waitForSpare(e, spare);
    const ctr = `c-${rand()}`;
    await makeTaskBundle(e, ctr, { args: ['sleep', '600'], annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': podB } });
    expect(await start(l, ctr)).toBe(address);
    expect(readFileSync(path.join(bundleDir(e, ctr), 'address'), 'utf8')).toBe(address);
    expect(readySpare(e)).toBe(next);
    expect(sparePids(e.ns)).toEqual([next]);

    await task.Kill({ id: podB, signal: 9 }, CALL);
    await task.Wait({ id: podB }, CALL);
    await task.Delete({ id: podB }, CALL);
  });

  it('the runtime options reach the spare through a real pipe, as containerd gives them (bad ones fail the start as a cold start would)', async () => {
    const l = await podAndSpare();
    const { e, spare } = l;
    const [r, w] = pipe2(0);
    writeSync(w, Buffer.from('not a protobuf Any'));
    closeSync(w);
    const id = `q-${rand()}`;
    await makeTaskBundle(e, id, sandbox(id));
    try {
      await expect(start(l, id, { stdin: { fd: r } })).rejects.toThrow(/exited 1: containerd-shim-berth-v2: start: stdin is not a protobuf Any/);
    } finally {
      closeSync(r);
    }
    expect(await waitUntil(() => !isAlive(spare))).toBe(true); // it was adopted, then failed like a cold server
    expect(existsSync(path.join(bundleDir(e, id), 'shim.pid'))).toBe(false); // undone
  });

  it('a killed spare, or one whose bundle file changed, is not adopted: the start is cold', async () => {
    const l = await podAndSpare();
    const { e, spare: killed } = l;
    process.kill(killed, 'SIGKILL');
    expect(await waitUntil(() => sparePids(e.ns).length === 0)).toBe(true);
    // and a dir as a spare leaves it while it exits: `ready` still there, its key already gone
    const leaving = path.join(e.socketDir, 'berth-spares', 's.0') // sorts first: the claim loop reads it;
    mkdirSync(leaving);
    writeFileSync(path.join(leaving, 'ready'), ''); // no pid in it: the test's readySpare skips it
    const cold = `k-${rand()}`;
    await makeTaskBundle(e, cold, sandbox(cold));
    const address = await start(l, cold);
    expect(address).toMatch(/^unix:\/\/\/\S+$/); // stdout and stderr: the address alone, as containerd reads it
    rmSync(leaving, { recursive: true, force: true }); // the rest of the test as before it
    expect(shimPidOf(e, cold)).not.toBe(killed);
    expect((await (await connectTask(e, address)).Connect({ id: cold }, CALL)).shimPid).toBe(shimPidOf(e, cold));

    // a new spare replaced the dead one (whose directory is gone); then the bundle changes
    const old = await waitForSpare(e, killed);
    expect(readdirSync(path.join(e.socketDir, 'berth-spares')).filter((n) => n.startsWith('s.'))).toHaveLength(1);
    const later = new Date(Date.now() + 60_000);
    utimesSync(l.script, later, later);
    const upgraded = `u-${rand()}`;
    await makeTaskBundle(e, upgraded, sandbox(upgraded));
    await start(l, upgraded);
    expect(shimPidOf(e, upgraded)).not.toBe(old);
    expect(await waitUntil(() => !sparePids(e.ns).includes(old))).toBe(true);
  });

  it('two concurrent starts and one spare: one adopts it, the other starts cold; both serve', async () => {
    const l = await podAndSpare();
    const { e, spare } = l;
    const ids = [`x-${rand()}`, `y-${rand()}`];
    for (const id of ids) await makeTaskBundle(e, id, sandbox(id));
    const addresses = await Promise.all(ids.map((id) => start(l, id)));
    const pids = ids.map((id) => shimPidOf(e, id));
    expect(pids.filter((p) => p === spare), JSON.stringify({ spare, pids, spares: spareDirs(e) })).toHaveLength(1);
    expect(new Set(pids).size).toBe(2);
    for (const [i, id] of ids.entries()) {
      expect((await (await connectTask(e, addresses[i] as string)).Connect({ id }, CALL)).shimPid).toBe(pids[i]);
    }
  });

  it('spares leave once no pod server of their group is left; BERTH_SHIM_SPARE=0 makes none', async () => {
    const l = await podAndSpare();
    const { e, pod, podAddress: address, spare } = l;
    await (await connectTask(e, address)).Shutdown({ id: pod }, CALL).catch(() => undefined);
    expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
    expect(await waitUntil(() => sparePids(e.ns).length === 0, 5_000)).toBe(true);
    expect(isAlive(spare)).toBe(false);
    expect(readdirSync(path.join(e.socketDir, 'berth-spares')).filter((n) => n.startsWith('s.'))).toEqual([]);

    const off = `o-${rand()}`;
    await makeTaskBundle(e, off, sandbox(off));
    await start(l, off, { env: { BERTH_SHIM_SPARE: '0' } });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(readySpare(e)).toBeUndefined();
    expect(sparePids(e.ns)).toEqual([]);
  });
});
