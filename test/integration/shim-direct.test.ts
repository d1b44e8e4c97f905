// containerd-shim-berth-v2 driven directly over ttrpc, as containerd drives a shim: `start` in
// the bundle, Create/Start/Wait/... on the printed address, events on a fake TTRPC_ADDRESS.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../common/index.js';
import { containerd, google, socketPathOf } from '../../proto/index.js';
import { io } from '../../proto/metrics.js';
import { shimSocketAddress } from '../../shim/index.js';
import { projectRoot } from '../helpers/bundle.js';
import {
  CALL, bundleDir, connectTask, guardPids, isAlive, makeTaskBundle, outputFifo, processSpec, rand, runShimAction, runcOptions, shimPids,
  shimStart, shimEnvPerTest, waitForEvents, waitUntil, type ShimEnv, type TaskClient,
} from './shim-harness.js';

const SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
const STATUS = { created: 1, running: 2, stopped: 3, paused: 4 };

const newEnv = shimEnvPerTest();

function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false; // still has processes: retried
  }
}

function kindOf(err: unknown): string {
  return isBerthError(err) ? err.kind : `not a BerthError: ${String(err)}`;
}


async function createAndStart(e: ShimEnv, task: TaskClient, id: string, stdout?: string): Promise<number> {
  const bundle = `${e.tmp}/state/${e.ns}/${id}`;
  const { pid } = await task.Create({ id, bundle, stdout: stdout ?? '', options: runcOptions(e) }, CALL);
  await task.Start({ id }, CALL);
  return pid ?? 0;
}

describe('containerd-shim-berth-v2 over ttrpc', () => {
  it('-v prints a version; start with no namespace fails without a socket', async () => {
    const e = await newEnv();
    const v = spawnSync(process.execPath, [e.shimEntry, '-v'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^containerd-shim-berth-v2:\n {2}Version: {2}\S+/);
    // the shipped launcher finds ../dist/shim/containerd-shim-berth-v2.cjs beside itself, also via a symlink
    mkdirSync(path.join(e.tmp, 'pkg/shim'), { recursive: true });
    mkdirSync(path.join(e.tmp, 'pkg/dist/shim'), { recursive: true });
    copyFileSync(path.join(projectRoot, 'shim/containerd-shim-berth-v2'), path.join(e.tmp, 'pkg/shim/containerd-shim-berth-v2'));
    symlinkSync(e.shimEntry, path.join(e.tmp, 'pkg/dist/shim/containerd-shim-berth-v2.cjs'));
    symlinkSync(path.join(e.tmp, 'pkg/shim/containerd-shim-berth-v2'), path.join(e.tmp, 'launcher'));
    const launched = spawnSync(path.join(e.tmp, 'launcher'), ['-v'], { encoding: 'utf8' });
    expect(launched.stdout, launched.stderr).toBe(v.stdout);
    // the launcher's own `start` (it detaches the server itself) prints the server's error
    const badLaunch = spawnSync(path.join(e.tmp, 'launcher'), ['-namespace', '', '-id', 'v', 'start'], {
      cwd: await makeTaskBundle(e, 'lv', { args: ['true'] }), encoding: 'utf8',
      env: { ...process.env, BERTH_SHIM_SOCKET_DIR: e.socketDir, BERTH_SHIM_SCRIPT: e.shimEntry },
    });
    expect([badLaunch.status, badLaunch.stdout, badLaunch.stderr]).toEqual([1, '', 'containerd-shim-berth-v2: shim namespace cannot be empty\n']);
    const bundle = await makeTaskBundle(e, 'v', { args: ['true'] });
    const bad = spawnSync(process.execPath, [e.shimEntry, '-namespace', '', '-id', 'v', 'start'], {
      cwd: bundle, encoding: 'utf8', env: { ...process.env, BERTH_SHIM_SOCKET_DIR: e.socketDir },
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/namespace cannot be empty/);
    expect(existsSync(e.socketDir)).toBe(false);
    const unknown = spawnSync(process.execPath, [e.shimEntry, '-bogus', 'start'], { cwd: bundle, encoding: 'utf8' });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/flag provided but not defined: -bogus/);
  });

  it('start replaces a stale socket, writes address and shim.pid, and makes the server a bit more OOM-killable', async () => {
    const e = await newEnv();
    const id = `st-${rand()}`;
    const bundle = await makeTaskBundle(e, id, { args: ['true'] });
    const expected = shimSocketAddress(e.address, e.ns, id, e.socketDir);
    // a socket file nobody listens on, as a crashed shim leaves it
    mkdirSync(e.socketDir, { recursive: true });
    const stale = socketPathOf(expected);
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(existsSync(stale)).toBe(true);

    const address = await shimStart(e, id);
    expect(address).toBe(expected);
    expect(readFileSync(path.join(bundle, 'address'), 'utf8')).toBe(address);
    const [server] = shimPids(e.ns);
    expect(Number(readFileSync(path.join(bundle, 'shim.pid'), 'utf8'))).toBe(server);
    const ours = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
    expect(Number(readFileSync(`/proc/${server}/oom_score_adj`, 'utf8'))).toBe(Math.min(1000, ours + 1));
    const task = await connectTask(e, address);
    expect((await task.Connect({ id }, CALL))).toMatchObject({ shimPid: server, taskPid: 0 });
    // a second start for the same group finds the server and starts nothing
    expect(await shimStart(e, id)).toBe(address);
    // The server a start spawns finds the pod served and exits on its own, maybe just after start
    // returned: wait for that, and fail if a second server stays.
    expect(await waitUntil(() => shimPids(e.ns).length === 1)).toBe(true);
    expect(shimPids(e.ns)).toEqual([server]);
    await task.Shutdown({ id }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
    expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
    expect(existsSync(stale)).toBe(false);
  });

  it('start never evaluates pino; the server that finds the pod served exits without it; the serving one logs with it', async () => {
    const e = await newEnv();
    const id = `pn-${rand()}`;
    const bundle = await makeTaskBundle(e, id, { args: ['true'] });
    // A preload that reports, at exit, whether pino was loaded (run time require) or evaluated
    // (its evaluation pulls in worker_threads, which nothing else on these paths loads).
    const reports = path.join(e.tmp, 'probe');
    mkdirSync(reports);
    const probe = path.join(e.tmp, 'probe.cjs');
    writeFileSync(probe, `process.on('exit', () => {
  const pino = Object.keys(require.cache).some((k) => k.includes('/node_modules/pino/'));
  const worker = process.moduleLoadList.includes('NativeModule worker_threads');
  require('fs').writeFileSync(${JSON.stringify(reports)} + '/' + process.pid + '.json', JSON.stringify({ start: process.argv.includes('start'), pino, worker }));
});\n`);
    const start = (): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [
      '--require', probe, e.shimEntry, '-namespace', e.ns, '-address', e.address, '-id', id, 'start',
    ], { cwd: bundle, env: { ...process.env, BERTH_SHIM_SOCKET_DIR: e.socketDir, TTRPC_ADDRESS: e.eventsPath }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const first = start();
    const second = start(); // finds the server serving
    expect([first.status, second.status]).toEqual([0, 0]);
    expect([first.stderr, second.stderr]).toEqual(['', '']);
    expect(second.stdout).toBe(first.stdout);
    const task = await connectTask(e, String(first.stdout));
    // pino opens the log FIFO a moment after serving; the preload's exit hook runs before the
    // server's own, so the server must have logged through pino before it is shut down
    await e.readers.at(-1)!.waitFor('shim serving');
    await task.Shutdown({ id }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
    expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
    const seen = readdirSync(reports).map((f) => JSON.parse(readFileSync(path.join(reports, f), 'utf8')) as { start: boolean; pino: boolean; worker: boolean });
    expect(seen.filter((r) => r.start)).toEqual([{ start: true, pino: false, worker: false }, { start: true, pino: false, worker: false }]);
    // the servers inherit the preload through execArgv: the second found the first serving the
    // pod's socket and left at once; the first logs to the bundle's FIFO with pino
    const servers = seen.filter((r) => !r.start).sort((a, b) => Number(a.pino) - Number(b.pino));
    expect(servers).toEqual([{ start: false, pino: false, worker: false }, { start: false, pino: true, worker: true }]);
  });

  it('a failed start leaves no socket, address, shim.pid or server behind and says why on stderr', async () => {
    const e = await newEnv();
    const id = `sf-${rand()}`;
    const bundle = await makeTaskBundle(e, id, { args: ['true'] });
    const missingCgroup = `/berth-no-such-cgroup-${rand()}`;
    const options = containerd.runc.v1.Options.encode({ shimCgroup: missingCgroup }).finish();
    const inputs: [Uint8Array, RegExp][] = [
      [google.protobuf.Any.encode({ type_url: 'containerd.runc.v1.Options', value: options }).finish(), new RegExp(`shim cgroup ${missingCgroup} does not exist`)],
      [new Uint8Array([0xff, 0xff, 0xff]), /stdin is not a protobuf Any/],
    ];
    for (const [stdin, why] of inputs) {
      const { code, out } = await runShimAction(e, id, 'start', stdin);
      expect(code).toBe(1);
      expect(out.toString()).toMatch(why);
      expect(readdirSync(e.socketDir)).toEqual([]);
      expect(['address', '.address', 'shim.pid'].filter((f) => existsSync(path.join(bundle, f)))).toEqual([]);
      expect(await waitUntil(() => shimPids(e.ns).length === 0, 5_000)).toBe(true);
    }
    // and the bundle is still good for a start that works
    const address = await shimStart(e, id);
    expect(address).toBe(shimSocketAddress(e.address, e.ns, id, e.socketDir));
    const task = await connectTask(e, address);
    await task.Shutdown({ id }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
    expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
  });

  it('start moves the server into Options.shim_cgroup given on stdin', async () => {
    const e = await newEnv();
    const id = `cg-${rand()}`;
    await makeTaskBundle(e, id, { args: ['true'] });
    const cgroup = `/berth-shim-${rand()}`;
    const hierarchies = readFileSync('/proc/self/cgroup', 'utf8').split('\n').map((l) => l.split(':')[1]).filter((c): c is string => !!c)
      .map((c) => path.join('/sys/fs/cgroup', (c.split(',')[0] as string).replace(/^name=/, '')));
    try {
      for (const h of hierarchies) {
        mkdirSync(path.join(h, cgroup));
        if (h.endsWith('/cpuset')) {
          for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(path.join(h, cgroup, f), readFileSync(path.join(h, f)));
        }
      }
      const options = containerd.runc.v1.Options.encode({ shimCgroup: cgroup }).finish();
      const any = google.protobuf.Any.encode({ type_url: 'containerd.runc.v1.Options', value: options }).finish();
      const { code, out } = await runShimAction(e, id, 'start', any);
      expect(code, out.toString()).toBe(0);
      expect(out.toString()).toBe(shimSocketAddress(e.address, e.ns, id, e.socketDir)); // stdout+stderr: the address only
      const [server] = shimPids(e.ns);
      const lines = readFileSync(`/proc/${server}/cgroup`, 'utf8').trim().split('\n').filter((l) => !l.startsWith('0::'));
      expect(lines.length).toBe(hierarchies.length);
      expect(lines.every((l) => l.endsWith(`:${cgroup}`))).toBe(true);
      const task = await connectTask(e, out.toString());
      await task.Shutdown({ id }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
      expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
    } finally {
      for (const h of hierarchies) await waitUntil(() => !existsSync(path.join(h, cgroup)) || rmdirQuietly(path.join(h, cgroup)), 5_000);
    }
  });

  it('serves a pod of 3 tasks from ONE shim: same address, exit codes via Wait, Shutdown after the last delete', async () => {
    const e = await newEnv();
    const sb = `sb-${rand()}`;
    const ids = [sb, `c1-${rand()}`, `c2-${rand()}`];
    const scripts = ['exec sleep 60', 'exit 3', 'exit 5'];
    const addresses: string[] = [];
    for (const [i, id] of ids.entries()) {
      await makeTaskBundle(e, id, { args: ['sh', '-c', scripts[i] as string], annotations: { [SANDBOX_ID]: sb } });
      addresses.push(await shimStart(e, id));
    }
    expect(new Set(addresses).size).toBe(1);
    expect(addresses[0]).toMatch(new RegExp(`^unix://${e.socketDir}/[0-9a-f]{64}$`));
    // Servers spawned by the losing starts exit on their own once they find the pod served.
    expect(await waitUntil(() => shimPids(e.ns).length === 1)).toBe(true);
    // containerd opens one connection per task
    const tasks = await Promise.all(ids.map(() => connectTask(e, addresses[0] as string)));
    const [tSb, t1, t2] = tasks as [TaskClient, TaskClient, TaskClient];
    expect((await tSb.Connect({ id: sb }, CALL)).shimPid).toBe(shimPids(e.ns)[0]);

    const pids: number[] = [];
    for (const [i, id] of ids.entries()) pids.push(await createAndStart(e, tasks[i] as TaskClient, id));
    expect((await t1.Wait({ id: ids[1] as string })).exitStatus).toBe(3);
    expect((await t2.Wait({ id: ids[2] as string })).exitStatus).toBe(5);
    expect((await tSb.Connect({ id: sb }, CALL)).taskPid).toBe(pids[0]);
    const running = await tSb.State({ id: sb }, CALL);
    expect(running).toMatchObject({ id: sb, status: STATUS.running, pid: pids[0] });

    await tSb.Kill({ id: sb, signal: 9 }, CALL);
    expect((await tSb.Wait({ id: sb })).exitStatus).toBe(137);
    const late = await tSb.Kill({ id: sb, signal: 9 }, CALL).catch((err: unknown) => err);
    expect(kindOf(late)).toBe('not-found');
    expect((late as Error).message).toBe('process already finished: not found');

    // Shutdown is a no-op while any container is left.
    expect((await t1.Delete({ id: ids[1] as string }, CALL)).exitStatus).toBe(3);
    await t1.Shutdown({ id: ids[1] as string }, CALL);
    expect(shimPids(e.ns)).toHaveLength(1);
    await t2.Delete({ id: ids[2] as string }, CALL);
    const unknown = await t2.State({ id: ids[2] as string }, CALL).catch((err: unknown) => err);
    expect(kindOf(unknown)).toBe('not-found');
    expect((unknown as Error).message).toBe('container not created: not found');
    expect((await tSb.Delete({ id: sb }, CALL)).exitStatus).toBe(137);
    await tSb.Shutdown({ id: sb }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
    expect(await waitUntil(() => shimPids(e.ns).length === 0)).toBe(true);
    expect(existsSync(socketPathOf(addresses[0] as string))).toBe(false);
  });

  it('runs exec processes with output and with a TTY; Pids, Pause/Resume, State and errors as the runc shim', async () => {
    const e = await newEnv();
    const id = `x-${rand()}`;
    await makeTaskBundle(e, id, { args: ['sleep', '60'] });
    const task = await connectTask(e, await shimStart(e, id));
    const initPid = await createAndStart(e, task, id);

    const out = outputFifo(e, 'exec-out');
    await task.Exec({ id, execId: 'e1', stdout: out.path, spec: processSpec(['sh', '-c', 'echo exec-out; exit 7']) }, CALL);
    const dup = await task.Exec({ id, execId: 'e1', spec: processSpec(['true']) }, CALL).catch((err: unknown) => err);
    expect(kindOf(dup)).toBe('already-exists');
    const e1Created = await task.State({ id, execId: 'e1' }, CALL);
    expect(e1Created).toMatchObject({ id: 'e1', status: STATUS.created });
    const e1Wait = task.Wait({ id, execId: 'e1' });
    const { pid: e1Pid } = await task.Start({ id, execId: 'e1' }, CALL);
    expect(e1Pid).toBeGreaterThan(0);
    expect((await e1Wait).exitStatus).toBe(7);
    expect(await out.reader.waitFor('exec-out\n')).toBe('exec-out\n');
    expect(await task.Delete({ id, execId: 'e1' }, CALL)).toMatchObject({ pid: e1Pid, exitStatus: 7 });

    const tty = outputFifo(e, 'tty-out');
    await task.Exec({ id, execId: 'e2', terminal: true, stdout: tty.path, spec: processSpec(['sh', '-c', 'tty; echo tty-ok'], true) }, CALL);
    const e2Wait = task.Wait({ id, execId: 'e2' });
    await task.Start({ id, execId: 'e2' }, CALL);
    expect((await e2Wait).exitStatus).toBe(0);
    const ttyText = await tty.reader.waitFor('tty-ok');
    expect(ttyText).toMatch(/^\/dev\/pts\/\d+\r\ntty-ok\r\n/);

    await task.Exec({ id, execId: 'e3', spec: processSpec(['sleep', '60']) }, CALL);
    const { pid: e3Pid } = await task.Start({ id, execId: 'e3' }, CALL);
    const { processes } = await task.Pids({ id }, CALL);
    const byPid = new Map((processes ?? []).map((p) => [p.pid, p]));
    expect(byPid.has(initPid)).toBe(true);
    const e3Info = byPid.get(e3Pid)?.info;
    expect(e3Info?.type_url).toBe('containerd.runc.v1.ProcessDetails');
    expect(containerd.runc.v1.ProcessDetails.decode(e3Info?.value ?? new Uint8Array(0)).execId).toBe('e3');

    await task.Pause({ id }, CALL);
    expect((await task.State({ id }, CALL)).status).toBe(STATUS.paused);
    const busy = await task.Delete({ id }, CALL).catch((err: unknown) => err);
    expect(kindOf(busy)).toBe('unknown');
    expect((busy as Error).message).toBe('cannot delete a paused process');
    await task.Resume({ id }, CALL);
    expect((await task.State({ id }, CALL)).status).toBe(STATUS.running);

    const missing = await task.State({ id, execId: 'nope' }, CALL).catch((err: unknown) => err);
    expect(kindOf(missing)).toBe('not-found');
    expect((missing as Error).message).toBe('process does not exist nope: not found');

    const stats = await task.Stats({ id }, CALL);
    expect(stats.stats?.type_url).toBe('io.containerd.cgroups.v1.Metrics');
    const metrics = io.containerd.cgroups.v1.Metrics.decode(stats.stats?.value ?? new Uint8Array(0));
    expect(Number(metrics.pids?.current)).toBeGreaterThanOrEqual(2); // init + exec e3
    expect(Number(metrics.memory?.usage?.usage)).toBeGreaterThan(0);

    await task.Kill({ id, signal: 9 }, CALL);
    expect((await task.Wait({ id })).exitStatus).toBe(137);
    expect((await task.Wait({ id, execId: 'e3' })).exitStatus).toBe(137);
    await task.Delete({ id }, CALL);
  });

  it('publishes events in order: an init exit only after its exec exits', async () => {
    const e = await newEnv();
    const id = `ev-${rand()}`;
    await makeTaskBundle(e, id, { args: ['sleep', '60'] });
    const task = await connectTask(e, await shimStart(e, id));
    const initPid = await createAndStart(e, task, id);
    await task.Exec({ id, execId: 'ex', spec: processSpec(['sleep', '60']) }, CALL);
    const { pid: execPid } = await task.Start({ id, execId: 'ex' }, CALL);
    await task.Kill({ id, signal: 9 }, CALL); // the pid namespace dies with its init: the exec too
    await task.Wait({ id });
    await task.Delete({ id }, CALL);
    const topics = await waitForEvents(e, 7);
    expect(topics).toEqual(['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit', '/tasks/exit', '/tasks/delete']);
    expect(e.events.every((ev) => ev.namespace === e.ns && ev.metadataNamespace === e.ns)).toBe(true);
    const [execExit, initExit] = [e.events[4], e.events[5]].map((ev) => containerd.events.TaskExit.decode(ev?.value ?? new Uint8Array(0)));
    expect(execExit).toMatchObject({ containerId: id, id: 'ex', pid: execPid, exitStatus: 137 });
    expect(initExit).toMatchObject({ containerId: id, id, pid: initPid, exitStatus: 137 });
    expect(e.events[4]?.typeUrl).toBe('containerd.events.TaskExit');
  });

  it('the pod guard kills only its own pod (not a reused id now in another pod) and never outlives its shim', async () => {
    const e = await newEnv();
    const [sbA, sbB, reused] = [`sa-${rand()}`, `sb-${rand()}`, `r-${rand()}`];
    const annotate = (sb: string) => ({ args: ['sleep', '60'], annotations: { [SANDBOX_ID]: sb } });
    await makeTaskBundle(e, sbA, annotate(sbA));
    await makeTaskBundle(e, sbB, annotate(sbB));
    const a = await connectTask(e, await shimStart(e, sbA));
    const b = await connectTask(e, await shimStart(e, sbB));
    const addrA = socketPathOf(readFileSync(path.join(bundleDir(e, sbA), 'address'), 'utf8'));
    const pidA = await createAndStart(e, a, sbA);
    const pidB = await createAndStart(e, b, sbB);
    // `reused` lives and dies in pod A, then the same id is created in pod B
    const reusedBundle = await makeTaskBundle(e, reused, annotate(sbA));
    expect(await shimStart(e, reused)).toBe(`unix://${addrA}`);
    await createAndStart(e, a, reused);
    await a.Kill({ id: reused, signal: 9 }, CALL);
    await a.Wait({ id: reused });
    await a.Delete({ id: reused }, CALL);
    const spec = JSON.parse(readFileSync(path.join(reusedBundle, 'config.json'), 'utf8')) as { annotations: Record<string, string> };
    spec.annotations[SANDBOX_ID] = sbB;
    writeFileSync(path.join(reusedBundle, 'config.json'), JSON.stringify(spec));
    expect(await shimStart(e, reused)).not.toBe(`unix://${addrA}`);
    const pidReused = await createAndStart(e, b, reused);
    expect(readFileSync(`${addrA}.pod`, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[2])).toEqual([sbA]);
    expect(guardPids(e)).toHaveLength(2);
    // a sentinel holds only its pipe from the shim: never the shim's listening socket, which
    // would keep a dead shim's address accepting (and hanging) connections
    for (const g of guardPids(e)) {
      const sockets = readdirSync(`/proc/${g}/fd`).filter((fd) => fd !== '0' && readlinkSync(`/proc/${g}/fd/${fd}`).startsWith('socket:'));
      expect(sockets).toEqual([]);
    }

    const [shimA] = shimPids(e.ns).filter((p) => Number(readFileSync(path.join(bundleDir(e, sbA), 'shim.pid'), 'utf8')) === p);
    process.kill(shimA as number, 'SIGKILL');
    expect(await waitUntil(() => !isAlive(pidA))).toBe(true);
    expect(await waitUntil(() => guardPids(e).length === 1)).toBe(true); // A's sentinel did its job and left
    expect(existsSync(`${addrA}.pod`)).toBe(false);
    expect([isAlive(pidB), isAlive(pidReused)]).toEqual([true, true]);

    // an orderly end of pod B: its sentinel leaves without killing anything and takes its list along
    for (const id of [reused, sbB]) {
      await b.Kill({ id, signal: 9 }, CALL);
      await b.Wait({ id });
      await b.Delete({ id }, CALL);
    }
    await b.Shutdown({ id: sbB }, CALL).catch((err: unknown) => expect(kindOf(err)).toBe('unavailable'));
    expect(await waitUntil(() => guardPids(e).length === 0 && shimPids(e.ns).length === 0)).toBe(true);
    // only A's socket file is left (a SIGKILLed shim cannot remove it; the next `start` replaces it)
    expect(readdirSync(e.socketDir)).toEqual([path.basename(addrA)]);
  });

  it('kill -9 of the shim takes the pod\'s containers with it; `delete` then cleans each bundle', async () => {
    const e = await newEnv();
    const sb = `sb-${rand()}`;
    const ids = [sb, `c-${rand()}`];
    let address = '';
    for (const id of ids) {
      await makeTaskBundle(e, id, { args: ['sleep', '60'], annotations: { [SANDBOX_ID]: sb } });
      address = await shimStart(e, id);
    }
    const task = await connectTask(e, address);
    const pids: number[] = [];
    for (const id of ids) pids.push(await createAndStart(e, task, id));
    expect(pids.every(isAlive)).toBe(true);
    const [shim] = shimPids(e.ns);
    process.kill(shim as number, 'SIGKILL');
    expect(await waitUntil(() => pids.every((p) => !isAlive(p)))).toBe(true);

    for (const [i, id] of ids.entries()) {
      const { code, out } = await runShimAction(e, id, 'delete');
      expect(code, out.toString()).toBe(0);
      const resp = containerd.task.v2.DeleteResponse.decode(out);
      expect(resp.pid).toBe(pids[i]);
      expect(resp.exitStatus).toBe(137);
      expect(Number(resp.exitedAt?.seconds)).toBeGreaterThan(0);
    }
  });
});
