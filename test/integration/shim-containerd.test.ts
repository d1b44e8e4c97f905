// containerd-shim-berth-v2 under the REAL containerd 1.6 (Debian package): a private containerd
// (own root/state/sockets, CRI disabled) finds the shim on its PATH for the runtime name
// io.containerd.berth.v2, and ctr drives whole task lives through it, including a containerd
// restart that must reconnect to the running shim through Connect.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeBusyboxRootfs } from '../fixtures/index.js';
import { isAlive, makeShimWrapper, mountsUnder, rand, shimPids, sleep, sparePids, waitUntil } from './shim-harness.js';

const RUNTIME = 'io.containerd.berth.v2';

interface Daemon {
  tmp: string;
  ns: string;
  sock: string;
  config: string;
  env: NodeJS.ProcessEnv;
  proc?: ChildProcess;
  ids: string[];
}

let d: Daemon | undefined;

async function setUp(): Promise<Daemon> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bc-'));
  const bin = path.dirname(await makeShimWrapper(path.join(tmp, 'bin')));
  const sock = path.join(tmp, 'c.sock');
  const config = path.join(tmp, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${tmp}/root"`,
      `state = "${tmp}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      `  address = "${tmp}/debug.sock"`,
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, BERTH_SHIM_SOCKET_DIR: path.join(tmp, 's') };
  delete env.NODE_EXTRA_CA_CERTS;
  d = { tmp, ns: `berth-ctr-${rand()}`, sock, config, env, ids: [] };
  await startContainerd(d);
  return d;
}

async function startContainerd(daemon: Daemon): Promise<void> {
  const proc = spawn('containerd', ['--config', daemon.config], { env: daemon.env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-20_000);
  });
  daemon.proc = proc;
  const ready = await waitUntil(() => existsSync(daemon.sock) && ctr(daemon, ['version']).status === 0, 20_000);
  if (!ready) throw new Error(`containerd did not come up: ${log}`);
}

function ctr(daemon: Daemon, args: string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ctr', ['--address', daemon.sock, '--namespace', daemon.ns, ...args], {
    encoding: 'utf8', timeout: timeoutMs, env: daemon.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `ctr task ls` as {id: status}. */
function taskStatuses(daemon: Daemon): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of ctr(daemon, ['task', 'ls']).stdout.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status) out[id] = status;
  }
  return out;
}

async function killContainerd(daemon: Daemon): Promise<void> {
  const p = daemon.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

afterEach(async () => {
  const daemon = d;
  d = undefined;
  if (!daemon) return;
  for (const id of daemon.ids) {
    ctr(daemon, ['task', 'kill', '-s', 'SIGKILL', id], 10_000);
    ctr(daemon, ['task', 'delete', '--force', id], 10_000);
    ctr(daemon, ['container', 'delete', id], 10_000);
  }
  await killContainerd(daemon);
  for (const pid of shimPids(daemon.ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const runcRoot = path.join('/run/containerd/runc', daemon.ns);
  for (const id of daemon.ids) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
  await rm(runcRoot, { recursive: true, force: true });
  for (const mp of mountsUnder(daemon.tmp).reverse()) spawnSync('umount', ['-l', mp]);
  await waitUntil(() => shimPids(daemon.ns).length === 0, 5_000);
  expect(shimPids(daemon.ns)).toEqual([]);
  // the launcher's spare (shim/spare.ts) leaves by itself once no pod server of its group is left
  await waitUntil(() => sparePids(daemon.ns).length === 0, 10_000);
  expect(sparePids(daemon.ns)).toEqual([]);
  // ctr's containers live at /<namespace>/<id> in every hierarchy; runc removes the leaves,
  // nobody removes the namespace's own cgroup
  await waitUntil(() => namespaceCgroups(daemon.ns).every(rmdirQuietly), 5_000);
  expect(namespaceCgroups(daemon.ns)).toEqual([]);
  await rm(daemon.tmp, { recursive: true, force: true });
  expect(mountsUnder(daemon.tmp)).toEqual([]);
});

function namespaceCgroups(ns: string): string[] {
  return readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h, ns)).filter((dir) => existsSync(dir));
}

function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

describe('containerd-shim-berth-v2 under real containerd 1.6', () => {
  it('ctr run --runtime io.containerd.berth.v2 exits with the container\'s code; exec, ps, pause/resume, kill work', async () => {
    const daemon = await setUp();
    const rootfs = await makeBusyboxRootfs(path.join(daemon.tmp, 'rootfs'));

    const once = `once-${rand()}`;
    daemon.ids.push(once);
    const run = ctr(daemon, ['run', '--rm', '--rootfs', '--runtime', RUNTIME, '--env', 'PATH=/bin:/usr/bin', rootfs, once, 'sh', '-c', 'echo hello-from-berth; exit 3']);
    expect(run.stdout, run.stderr).toBe('hello-from-berth\n');
    expect(run.status, run.stderr).toBe(3);

    const id = `long-${rand()}`;
    daemon.ids.push(id);
    const started = ctr(daemon, ['run', '-d', '--rootfs', '--runtime', RUNTIME, '--env', 'PATH=/bin:/usr/bin', rootfs, id, 'sleep', '600']);
    expect(started.status, started.stderr).toBe(0);
    expect(taskStatuses(daemon)[id]).toBe('RUNNING');
    expect(shimPids(daemon.ns)).toHaveLength(1);

    const exec = ctr(daemon, ['task', 'exec', '--exec-id', 'e1', id, '/bin/sh', '-c', 'echo exec-says-hi; exit 4']);
    expect(exec.stdout).toBe('exec-says-hi\n');
    expect(exec.status, exec.stderr).toBe(4);

    const ps = ctr(daemon, ['task', 'ps', id]);
    expect(ps.status, ps.stderr).toBe(0);
    const pids = ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => n > 0);
    expect(pids.length).toBeGreaterThan(0);

    expect(ctr(daemon, ['task', 'pause', id]).status).toBe(0);
    expect(taskStatuses(daemon)[id]).toBe('PAUSED');
    expect(ctr(daemon, ['task', 'resume', id]).status).toBe(0);
    expect(taskStatuses(daemon)[id]).toBe('RUNNING');

    const kill = ctr(daemon, ['task', 'kill', '-s', 'SIGKILL', id]);
    expect(kill.status, kill.stderr).toBe(0);
    expect(await waitUntil(() => taskStatuses(daemon)[id] === 'STOPPED')).toBe(true);
    expect(ctr(daemon, ['task', 'delete', id]).status).toBe(0);
    expect(ctr(daemon, ['container', 'delete', id]).status).toBe(0);
    // the last task gone: containerd sent Shutdown and the shim left
    expect(await waitUntil(() => shimPids(daemon.ns).length === 0)).toBe(true);
  });

  it('reconnects to a running shim after containerd is killed and restarted, then sees the task exit', async () => {
    const daemon = await setUp();
    const rootfs = await makeBusyboxRootfs(path.join(daemon.tmp, 'rootfs'));
    const id = `rs-${rand()}`;
    daemon.ids.push(id);
    expect(ctr(daemon, ['run', '-d', '--rootfs', '--runtime', RUNTIME, '--env', 'PATH=/bin:/usr/bin', rootfs, id, 'sleep', '600']).status).toBe(0);
    const [shim] = shimPids(daemon.ns);
    const pid = Number(ctr(daemon, ['task', 'ls']).stdout.split('\n')[1]?.trim().split(/\s+/)[1]);
    expect(isAlive(pid)).toBe(true);

    await killContainerd(daemon);
    await sleep(200);
    expect(isAlive(shim as number)).toBe(true);
    expect(isAlive(pid)).toBe(true);
    await startContainerd(daemon);

    // restored through Connect: same shim, same task
    expect(await waitUntil(() => taskStatuses(daemon)[id] === 'RUNNING')).toBe(true);
    expect(shimPids(daemon.ns)).toEqual([shim]);
    process.kill(pid, 'SIGKILL');
    expect(await waitUntil(() => taskStatuses(daemon)[id] === 'STOPPED')).toBe(true);
    const del = ctr(daemon, ['task', 'delete', id]);
    expect(del.status, del.stderr).toBe(0);
    expect(del.stdout + del.stderr).toMatch(/137/);
    expect(ctr(daemon, ['container', 'delete', id]).status).toBe(0);
    expect(await waitUntil(() => shimPids(daemon.ns).length === 0)).toBe(true);
  });
});
