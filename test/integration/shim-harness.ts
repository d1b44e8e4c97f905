// Shared set-up for the containerd-shim-berth-v2 integration tests: a temp state dir, a fake
// TTRPC_ADDRESS events sink that records every Forward, bundles with their `log` FIFO, the
// shim's `start`/`delete` actions run exactly as containerd 1.6 runs them, and a teardown that
// removes every process, mount, socket and directory a test made.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import {
  EVENTS_SERVICE, TASK_SERVICE, TtrpcClient, TtrpcServer, containerd, createServiceClient, eventsServiceMethods, taskServiceMethods,
  type ServiceClient,
} from '../../proto/index.js';
import { makeBundle, makeFifo, makeOciSpec, openFifoReader, type FifoReader, type OciSpec, type OciSpecOptions } from '../fixtures/index.js';
import { bundleTestShim } from '../helpers/bundle.js';

export const CALL = { timeoutMs: 15_000 };
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const rand = (): string => Math.random().toString(36).slice(2, 10);
export type TaskClient = ServiceClient<typeof taskServiceMethods>;

export interface RecordedEvent {
  topic: string;
  namespace: string;
  /** ttrpc metadata namespace of the Forward call. */
  metadataNamespace: string | undefined;
  typeUrl: string;
  value: Uint8Array;
}

export interface ShimEnv {
  tmp: string;
  ns: string;
  /** containerd's -address (never dialed by the shim; part of the socket hash). */
  address: string;
  socketDir: string;
  eventsPath: string;
  events: RecordedEvent[];
  eventsServer: TtrpcServer;
  runcRoot: string;
  readers: FifoReader[];
  clients: TtrpcClient[];
  ids: string[];
  shimEntry: string;
}

export async function setUpShimEnv(): Promise<ShimEnv> {
  const shimEntry = await bundleTestShim();
  // Short: unix socket paths are limited to 107 bytes and the hash alone is 64.
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bs-'));
  const ns = `berth-shim-${rand()}`;
  const eventsPath = path.join(tmp, 'ev.sock');
  const events: RecordedEvent[] = [];
  const eventsServer = new TtrpcServer();
  eventsServer.register(EVENTS_SERVICE, eventsServiceMethods, {
    Forward: (req, ctx) => {
      const env = req.envelope;
      events.push({
        topic: env?.topic ?? '',
        namespace: env?.namespace ?? '',
        metadataNamespace: ctx.namespace,
        typeUrl: env?.event?.type_url ?? '',
        value: env?.event?.value ?? new Uint8Array(0),
      });
      return {};
    },
  });
  await eventsServer.listen(eventsPath);
  const socketDir = path.join(tmp, 's');
  return {
    tmp, ns, address: path.join(tmp, 'containerd.sock'), socketDir, eventsPath, events, eventsServer,
    runcRoot: path.join(tmp, 'runc'), readers: [], clients: [], ids: [], shimEntry,
  };
}

export function bundleDir(env: ShimEnv, id: string): string {
  return path.join(env.tmp, 'state', env.ns, id);
}

/** A busybox bundle for `id` with its log FIFO open (as containerd does before `start`). */
export async function makeTaskBundle(env: ShimEnv, id: string, spec: OciSpecOptions, edit?: (s: OciSpec) => void): Promise<string> {
  const dir = bundleDir(env, id);
  await mkdir(path.dirname(dir), { recursive: true });
  const oci = makeOciSpec(spec);
  edit?.(oci);
  await makeBundle(dir, oci);
  makeFifo(path.join(dir, 'log'));
  env.readers.push(openFifoReader(path.join(dir, 'log')));
  env.ids.push(id);
  return dir;
}

/** A FIFO the test reads (a process's stdout). */
export function outputFifo(env: ShimEnv, name: string): { path: string; reader: FifoReader } {
  const p = path.join(env.tmp, name);
  makeFifo(p);
  const reader = openFifoReader(p);
  env.readers.push(reader);
  return { path: p, reader };
}

export function shimEnvVars(env: ShimEnv): NodeJS.ProcessEnv {
  const vars: NodeJS.ProcessEnv = { ...process.env, TTRPC_ADDRESS: env.eventsPath, GOMAXPROCS: '2', BERTH_SHIM_SOCKET_DIR: env.socketDir };
  delete vars.NODE_EXTRA_CA_CERTS;
  return vars;
}

/**
 * Runs the shim with containerd's argv for `action` (the bundle under node, or `o.launcher`, a
 * wrapper made by makeShimWrapper, as containerd runs it); resolves with stdout+stderr.
 */
export function runShimAction(
  env: ShimEnv, id: string, action: 'start' | 'delete', stdin?: Uint8Array | { fd: number },
  o: { launcher?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; out: Buffer }> {
  const args = ['-namespace', env.ns, '-address', env.address, '-publish-binary', '/usr/bin/containerd', '-id', id];
  if (action === 'delete') args.push('-bundle', bundleDir(env, id));
  const [cmd, argv] = o.launcher ? [o.launcher, args] : [process.execPath, [env.shimEntry, ...args]];
  const child = spawn(cmd, [...argv, action], {
    cwd: bundleDir(env, id), env: { ...shimEnvVars(env), ...o.env }, detached: true,
    stdio: [stdin ? ('fd' in stdin ? stdin.fd : 'pipe') : 'ignore', 'pipe', 'pipe'],
  });
  if (stdin && !('fd' in stdin)) child.stdin?.end(stdin);
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  child.stderr?.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shim ${action} timed out: ${Buffer.concat(chunks).toString()}`));
    }, 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(chunks) });
    });
  });
}

export async function shimStart(env: ShimEnv, id: string): Promise<string> {
  const { code, out } = await runShimAction(env, id, 'start');
  if (code !== 0) throw new Error(`shim start exited ${code}: ${out.toString()}`);
  return out.toString();
}

export async function connectTask(env: ShimEnv, address: string): Promise<TaskClient> {
  const client = await TtrpcClient.connect(address, { namespace: env.ns, connectTimeoutMs: 5_000 });
  env.clients.push(client);
  return createServiceClient(client, TASK_SERVICE, taskServiceMethods);
}

/** containerd.runc.v1.Options with this test's runc root (runc state never touches the host's). */
export function runcOptions(env: ShimEnv, binaryName = ''): { type_url: string; value: Uint8Array } {
  return { type_url: 'containerd.runc.v1.Options', value: containerd.runc.v1.Options.encode({ root: env.runcRoot, binaryName }).finish() };
}

export async function waitForEvents(env: ShimEnv, n: number, timeoutMs = 10_000): Promise<string[]> {
  for (const until = Date.now() + timeoutMs; env.events.length < n && Date.now() < until; ) await sleep(10);
  return env.events.map((e) => e.topic);
}

/** Every process's argv (from /proc/<pid>/cmdline). */
function processArgvs(): [number, string[]][] {
  const out: [number, string[]][] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.push([Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')]);
    } catch {
      // gone
    }
  }
  return out;
}

/** Pids of shim servers of this test (found by their -namespace argument; spares not included). */
export function shimPids(ns: string): number[] {
  return processArgvs()
    .filter(([, argv]) => {
      const at = argv.indexOf('-namespace');
      return at > 0 && argv[at + 1] === ns && argv.every((a) => a !== 'start' && a !== 'delete' && a !== 'spare');
    })
    .map(([pid]) => pid);
}

/** Pids of this test's spare servers not adopted yet (shim/spare.ts; their argv says `spare`). */
export function sparePids(ns: string): number[] {
  return processArgvs()
    .filter(([pid, argv]) => {
      const at = argv.indexOf('-namespace');
      return at > 0 && argv[at + 1] === ns && argv.includes('spare') && isAlive(pid);
    })
    .map(([pid]) => pid);
}

/** Pids of pod-guard sentinels (shim/pod-guard.ts) whose kill list lies in this test's socket dir. */
export function guardPids(env: Pick<ShimEnv, 'socketDir'>): number[] {
  return processArgvs()
    .filter(([pid, argv]) => {
      const at = argv.indexOf('berth-pod-guard');
      return at > 0 && (argv[at + 1] ?? '').startsWith(env.socketDir + '/') && isAlive(pid);
    })
    .map(([pid]) => pid);
}

/** A process that exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

export async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  for (const until = Date.now() + timeoutMs; !cond() && Date.now() < until; ) await sleep(20);
  return cond();
}

/**
 * Undoes everything: clients, shims, containers, mounts, sockets, FIFO readers, the temp dir.
 * Spares are given 10 s to leave by their own rule (no pod server of their group left) before
 * they are killed; resolves with the spares that had to be killed.
 */
export async function tearDown(env: ShimEnv): Promise<number[]> {
  for (const c of env.clients) await c.close();
  for (const pid of shimPids(env.ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  // (a spare still booting at nice 10 on a busy machine takes its boot plus a poll)
  const sparesLeft = (await waitUntil(() => sparePids(env.ns).length === 0, 10_000)) ? [] : sparePids(env.ns);
  for (const pid of sparesLeft) process.kill(pid, 'SIGKILL');
  for (const id of env.ids) spawnSync('runc', ['--root', path.join(env.runcRoot, env.ns), 'delete', '--force', id]);
  for (const mp of mountsUnder(env.tmp).reverse()) spawnSync('umount', ['-l', mp]);
  for (const r of env.readers) r.close();
  env.eventsServer.destroy();
  await env.eventsServer.close();
  await waitUntil(() => shimPids(env.ns).length === 0 && guardPids(env).length === 0, 5_000);
  for (const pid of guardPids(env)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (existsSync(env.tmp)) await rm(env.tmp, { recursive: true, force: true });
  return sparesLeft;
}

/** tearDown, then prove nothing is left: no shim, no pod guard, no mount, no temp dir. */
export async function tearDownChecked(env: ShimEnv | undefined): Promise<void> {
  if (!env) return;
  // a shim gone by now (Shutdown or SIGKILL) must not have left its sentinel running
  const shimsLeft = shimPids(env.ns).length;
  const guardsLeft = shimsLeft === 0 ? await waitUntil(() => guardPids(env).length === 0, 5_000) : true;
  const sparesLeft = await tearDown(env);
  expect(guardsLeft, 'a pod guard outlived its shim').toBe(true);
  expect(sparesLeft, 'a spare outlived its group').toEqual([]);
  expect(shimPids(env.ns)).toEqual([]);
  expect(mountsUnder(env.tmp)).toEqual([]);
  expect(existsSync(env.tmp)).toBe(false);
}

/** ExecProcessRequest.spec: an OCI Process as JSON. */
export function processSpec(args: string[], terminal = false): { type_url: string; value: Uint8Array } {
  const spec = { args, env: ['PATH=/bin:/usr/bin'], cwd: '/', user: { uid: 0, gid: 0 }, terminal };
  return { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: new TextEncoder().encode(JSON.stringify(spec)) };
}

export { makeShimWrapper } from '../helpers/bundle.js';

/** Registers an afterEach that tears down (and checks) the env; returns the per-test factory. */
export function shimEnvPerTest(): () => Promise<ShimEnv> {
  let env: ShimEnv | undefined;
  afterEach(async () => {
    const e = env;
    env = undefined;
    await tearDownChecked(e);
  });
  return async () => (env = await setUpShimEnv());
}
