// Shared set-up for the taskmanager integration tests: a temp state/root dir, a unique
// containerd namespace (so shim sockets, runc state and process lists never collide with other
// tests), a busybox rootfs handed to the shim as a bind mount, and a cleanup that kills every
// process and removes every mount, socket and dir the test made.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExitMonitor, TaskManager, type TaskManagerOptions } from '../../taskmanager/index.js';
import { makeBusyboxRootfs, makeOciSpec, type OciSpec } from '../fixtures/index.js';

/** Runtimes the tests run against. Add berth's shim here once it exists (path via env or wrapper). */
export const TEST_RUNTIMES: Array<{ runtime: string; enabled: boolean; runtimePath?: string }> = [
  { runtime: 'io.containerd.runc.v2', enabled: true },
  // Enabled when BERTH_SHIM_PATH names berth's shim (or a wrapper script around it).
  { runtime: 'io.containerd.berth.v2', enabled: Boolean(process.env.BERTH_SHIM_PATH), ...(process.env.BERTH_SHIM_PATH ? { runtimePath: process.env.BERTH_SHIM_PATH } : {}) },
];

export interface TmEnv {
  dir: string;
  namespace: string;
  stateDir: string;
  rootDir: string;
  dbDir: string;
  grpcAddress: string;
  ttrpcAddress: string;
  rootfs: string;
  runtimePaths: Record<string, string>;
}

export async function makeTmEnv(runtime: { runtime: string; runtimePath?: string }): Promise<TmEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-tm-'));
  const namespace = `tm-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const rootfs = await makeBusyboxRootfs(path.join(dir, 'rootfs-src'));
  return {
    dir, namespace, rootfs,
    stateDir: path.join(dir, 'state'),
    rootDir: path.join(dir, 'root'),
    dbDir: path.join(dir, 'db'),
    grpcAddress: path.join(dir, 'berth.sock'),
    ttrpcAddress: path.join(dir, 'berth.sock.ttrpc'),
    runtimePaths: runtime.runtimePath ? { [runtime.runtime]: runtime.runtimePath } : {},
  };
}

/** A spec for a task of pod `sandboxId` (the annotation the shim groups by). */
export function podSpec(args: string[], sandboxId: string): OciSpec {
  return makeOciSpec({ args, annotations: { 'io.kubernetes.cri.sandbox-id': sandboxId } });
}

/** A task of pod `sandboxId` that names its own shim group (io.containerd.runc.v2.group wins). */
export function makeOciSpecForGroup(args: string[], sandboxId: string, group: string): OciSpec {
  return makeOciSpec({ args, annotations: { 'io.kubernetes.cri.sandbox-id': sandboxId, 'io.containerd.runc.v2.group': group } });
}

export const rootfsMounts = (env: TmEnv): Array<{ type: string; source: string; options: string[] }> => [
  { type: 'bind', source: env.rootfs, options: ['rbind', 'rw'] },
];

async function cmdlines(): Promise<Array<{ pid: number; argv: string[] }>> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const raw = await readFile(`/proc/${name}/cmdline`, 'utf8');
      out.push({ pid: Number(name), argv: raw.split('\0').filter((a) => a !== '') });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Long-running shim server processes of this namespace (not `start`/`delete` invocations, nor
 * berth's spares waiting to be adopted: their argv says `spare`, shim/spare.ts).
 */
export async function shimServers(namespace: string): Promise<number[]> {
  return (await cmdlines())
    .filter(({ argv }) => argv.some((a) => a.includes('containerd-shim')) && argv.includes(namespace)
      && !argv.includes('start') && !argv.includes('delete') && !argv.includes('spare'))
    .map((p) => p.pid);
}

/** Every mount point under `dir`. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4] ?? '').filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

/** Kills leftover shims and containers of the namespace, unmounts and removes everything. */
export async function destroyTmEnv(env: TmEnv): Promise<void> {
  for (const pid of await shimServers(env.namespace)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  const runcRoot = `/run/containerd/runc/${env.namespace}`;
  try {
    for (const id of await readdir(runcRoot)) {
      try { execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 }); } catch { /* gone */ }
    }
  } catch { /* no runc state */ }
  await rm(runcRoot, { recursive: true, force: true });
  for (const mp of (await mountsUnder(env.dir)).sort((a, b) => b.length - a.length)) {
    try { execFileSync('umount', ['-l', mp], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  await rm(env.dir, { recursive: true, force: true });
}

/** The socket the runc shim serves group `group` on (docs/shim.md, socket-address.ts). */
export function shimSocketPath(env: TmEnv, group: string): string {
  const hash = createHash('sha256').update(path.join(env.grpcAddress, env.namespace, group)).digest('hex');
  return `/run/containerd/s/${hash}`;
}

/** True while `pid` exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A task manager (with its exit monitor) on `env`; `close` undoes it all. */
export async function openTestTaskManager(
  env: TmEnv, extra: Partial<TaskManagerOptions> = {},
): Promise<{ tm: TaskManager; exits: ExitMonitor; close: () => Promise<void> }> {
  const exits = new ExitMonitor();
  const tm = await TaskManager.open({
    stateDir: env.stateDir, rootDir: env.rootDir, grpcAddress: env.grpcAddress, ttrpcAddress: env.ttrpcAddress,
    runtimes: { runtimePaths: env.runtimePaths }, exits, ...extra,
  });
  return {
    tm,
    exits,
    close: async () => {
      await tm.close();
      exits.close();
    },
  };
}

/** Registers beforeEach/afterEach that give each test a fresh env and task manager. */
export function useTestTaskManager(
  rt: { runtime: string; runtimePath?: string }, extra: Partial<TaskManagerOptions> = {},
): { readonly env: TmEnv; readonly tm: TaskManager; readonly exits: ExitMonitor } {
  let env: TmEnv | undefined;
  let opened: { tm: TaskManager; exits: ExitMonitor; close: () => Promise<void> } | undefined;
  beforeEach(async () => {
    env = await makeTmEnv(rt);
    opened = await openTestTaskManager(env, extra);
  });
  afterEach(async () => {
    await opened?.close();
    if (env) await destroyTmEnv(env);
    opened = undefined;
    env = undefined;
  });
  return {
    get env() { return env!; },
    get tm() { return opened!.tm; },
    get exits() { return opened!.exits; },
  };
}
