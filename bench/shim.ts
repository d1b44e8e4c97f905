// The shim figures (issue #9), driven directly over ttrpc the way containerd 1.6 drives a shim,
// so they need no daemon: `<shim> start` → the printed address answers Connect, and PSS per pod
// of a pause task plus two containers grouped into the pod's one shim. containerd-shim-runc-v2
// and containerd-shim-berth-v2 are measured in the same run, alternating.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeadlineExceededError, InternalError } from '../common/index.js';
import {
  EVENTS_SERVICE, TASK_SERVICE, TtrpcClient, TtrpcServer, containerd, createServiceClient, eventsServiceMethods, socketPathOf,
  taskServiceMethods, type ServiceClient,
} from '../proto/index.js';
import { makeBundle, makeFifo, makeOciSpec, openFifoReader, type FifoReader } from '../test/fixtures/index.js';
import { unmountUnder } from './daemon.js';
import type { Samples } from './figures.js';
import { killPids, nowMs, pssKiB, rand, runCmd, shimPidsForAddress, sleep } from './proc.js';

export type ShimKind = 'runc' | 'berth';
type TaskClient = ServiceClient<typeof taskServiceMethods>;
const CALL = { timeoutMs: 15_000 };

interface ShimEnv {
  kind: ShimKind;
  tmp: string;
  ns: string;
  address: string;
  runcRoot: string;
  events: TtrpcServer;
  readers: FifoReader[];
  clients: TtrpcClient[];
  addresses: Set<string>;
  argv0: string[];
  env: NodeJS.ProcessEnv;
}

async function openEnv(kind: ShimKind, berthShim: string | undefined): Promise<ShimEnv> {
  // Short: a unix socket path must fit in 107 bytes.
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bb-'));
  const events = new TtrpcServer();
  events.register(EVENTS_SERVICE, eventsServiceMethods, { Forward: () => ({}) });
  await events.listen(path.join(tmp, 'ev.sock'));
  const env: NodeJS.ProcessEnv = { ...process.env, TTRPC_ADDRESS: path.join(tmp, 'ev.sock'), GOMAXPROCS: '2', BERTH_SHIM_SOCKET_DIR: path.join(tmp, 's') };
  delete env.NODE_EXTRA_CA_CERTS;
  let argv0: string[];
  if (kind === 'runc') argv0 = ['/usr/bin/containerd-shim-runc-v2'];
  else if (berthShim) argv0 = [berthShim]; // the launcher, as containerd runs it
  else throw new InternalError('the berth shim bundle is missing');
  return {
    kind, tmp, ns: `bench-${rand()}`, address: path.join(tmp, 'c.sock'), runcRoot: path.join(tmp, 'runc'), events,
    readers: [], clients: [], addresses: new Set(), argv0, env,
  };
}

async function closeEnv(e: ShimEnv): Promise<void> {
  for (const c of e.clients) await c.close().catch(() => undefined);
  killPids(shimPidsForAddress(e.address));
  await sleep(100);
  const list = await runCmd('runc', ['--root', path.join(e.runcRoot, e.ns), 'list', '-q']).catch(() => undefined);
  for (const id of list?.stdout.split('\n').filter(Boolean) ?? []) {
    await runCmd('runc', ['--root', path.join(e.runcRoot, e.ns), 'delete', '--force', id]).catch(() => undefined);
  }
  for (const a of e.addresses) await rm(socketPathOf(a), { force: true }).catch(() => undefined);
  await unmountUnder(e.tmp);
  for (const r of e.readers) r.close();
  e.events.destroy();
  await e.events.close().catch(() => undefined);
  await rm(e.tmp, { recursive: true, force: true });
}

async function makeTaskBundle(e: ShimEnv, id: string, sandboxId: string, withRootfs: boolean): Promise<string> {
  const dir = path.join(e.tmp, 'state', e.ns, id);
  await mkdir(path.dirname(dir), { recursive: true });
  const annotations = {
    'io.kubernetes.cri.container-type': id === sandboxId ? 'sandbox' : 'container',
    'io.kubernetes.cri.sandbox-id': sandboxId,
  };
  await makeBundle(dir, makeOciSpec({ args: ['sleep', '2147483647'], annotations }), { rootfs: withRootfs });
  // The log FIFO must exist (and be open) before `start`, or the runc shim exits at once.
  makeFifo(path.join(dir, 'log'));
  e.readers.push(openFifoReader(path.join(dir, 'log')));
  return dir;
}

/** `<shim> start` with containerd's argv, cwd and env (plus `env`); resolves with the printed address. */
function shimStart(e: ShimEnv, id: string, bundle: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const [cmd, ...pre] = e.argv0 as [string, ...string[]];
  const child = spawn(cmd, [...pre, '-namespace', e.ns, '-address', e.address, '-publish-binary', '/usr/bin/containerd', '-id', id, 'start'], {
    cwd: bundle, env: { ...e.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new DeadlineExceededError(`${e.kind} shim start did not finish in 20 s: ${out}`));
    }, 20_000);
    child.once('error', (err) => reject(new InternalError(`cannot run the ${e.kind} shim: ${err.message}`, { cause: err })));
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) {
        e.addresses.add(out.trim());
        resolve(out.trim());
      } else reject(new InternalError(`${e.kind} shim start exited ${code}: ${out}`));
    });
  });
}

async function connect(e: ShimEnv, address: string): Promise<TaskClient> {
  const client = await TtrpcClient.connect(address, { namespace: e.ns, connectTimeoutMs: 5_000 });
  e.clients.push(client);
  return createServiceClient(client, TASK_SERVICE, taskServiceMethods);
}

function runcOptions(e: ShimEnv): { type_url: string; value: Uint8Array } {
  return { type_url: 'containerd.runc.v1.Options', value: containerd.runc.v1.Options.encode({ root: e.runcRoot }).finish() };
}

/**
 * start → serving, `count` times; each shim is shut down (no task) afterwards. Cold: berth's
 * spares off (BERTH_SHIM_SPARE=0), so every start boots Node. Warm: a node that already runs a
 * pod (its shim started first and kept), and before each start berth's spare for it is ready
 * (shim/spare.ts; the runc shim gets the same pause): the start adopts the spare.
 */
async function startToServing(e: ShimEnv, count: number, warm: boolean): Promise<{ serving: number[]; action: number[] }> {
  const serving: number[] = [];
  const action: number[] = [];
  const env = e.kind === 'berth' && !warm ? { BERTH_SHIM_SPARE: '0' } : undefined;
  let pod: { id: string; task: TaskClient } | undefined;
  if (warm) {
    const id = `pod-${rand()}`;
    pod = { id, task: await connect(e, await shimStart(e, id, await makeTaskBundle(e, id, id, false))) };
  }
  try {
    for (let i = 0; i < count; i++) {
      const id = `s-${rand()}`;
      const bundle = await makeTaskBundle(e, id, id, false);
      if (warm) await spareReady(e);
      const t0 = nowMs();
      const address = await shimStart(e, id, bundle, env);
      action.push(nowMs() - t0);
      const task = await connect(e, address);
      await task.Connect({ id }, CALL);
      serving.push(nowMs() - t0);
      await task.Shutdown({ id }, CALL).catch(() => undefined); // the shim may close before answering
    }
  } finally {
    await pod?.task.Shutdown({ id: pod.id }, CALL).catch(() => undefined);
  }
  return { serving, action };
}

/** berth: until a spare waits for the next start (10 s at most); runc: the same 0.5 s pause. */
async function spareReady(e: ShimEnv): Promise<void> {
  await sleep(500);
  if (e.kind !== 'berth') return;
  const root = path.join(e.tmp, 's', 'berth-spares');
  for (const until = nowMs() + 10_000; nowMs() < until; await sleep(20)) {
    const dirs = await readdir(root).catch(() => [] as string[]);
    if (dirs.some((d) => d.startsWith('s.') && existsSync(path.join(root, d, 'ready')))) return;
  }
  throw new DeadlineExceededError('no berth shim spare became ready within 10 s');
}

/**
 * PSS per pod: `pods` pods of a pause task + 2 containers, one shim per pod. berth's spare (spares
 * on, as installed) is counted too: it carries the same -address argv.
 */
async function pssPerPod(e: ShimEnv, pods: number): Promise<number> {
  for (let p = 0; p < pods; p++) {
    const sandbox = `pod-${rand()}`;
    let task: TaskClient | undefined;
    let address = '';
    for (const id of [sandbox, `${sandbox}-a`, `${sandbox}-b`]) {
      const bundle = await makeTaskBundle(e, id, sandbox, true);
      const got = await shimStart(e, id, bundle);
      if (address && got !== address) throw new InternalError(`${e.kind} shim did not group ${id} into its pod's shim`);
      address = got;
      task ??= await connect(e, address);
      await task.Create({ id, bundle, rootfs: [], options: runcOptions(e) as never }, CALL);
      await task.Start({ id }, CALL);
    }
  }
  await sleep(2_000);
  const pids = shimPidsForAddress(e.address);
  return pids.reduce((n, pid) => n + pssKiB(pid), 0) / pods / 1024;
}

/** One repetition for one shim kind. */
export async function shimFigures(kind: ShimKind, berthShim: string | undefined, o: { starts: number; pods: number }): Promise<Samples> {
  const e = await openEnv(kind, berthShim);
  try {
    const cold = await startToServing(e, o.starts, false);
    const warm = await startToServing(e, o.starts, true);
    const pss = await pssPerPod(e, o.pods);
    return {
      'shim-start': cold.serving, 'shim-start-action': cold.action, 'shim-start-warm': warm.serving, 'shim-start-warm-action': warm.action,
      'shim-pss': [pss],
    };
  } finally {
    await closeEnv(e);
  }
}

/**
 * The floor of any shim written for Node: a bare `node --max-semi-space-size=1 -e 0` from spawn
 * to exit (no bundle, no work), and the PSS of `pods` bare idle Node processes running side by
 * side (what one Node process per pod costs before it loads a line of berth).
 */
export async function nodeFloors(starts: number, pods: number): Promise<Samples> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const boot: number[] = [];
  for (let i = 0; i < starts; i++) {
    const t0 = nowMs();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--max-semi-space-size=1', '-e', '0'], { env, stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    boot.push(nowMs() - t0);
  }
  const idle = Array.from({ length: pods }, () =>
    spawn(process.execPath, ['--max-semi-space-size=1', '-e', 'setInterval(() => {}, 60000)'], { env, stdio: 'ignore' }));
  try {
    await sleep(2_000);
    const pss = idle.reduce((n, c) => n + (c.pid ? pssKiB(c.pid) : 0), 0) / pods / 1024;
    return { 'shim-start': boot, 'shim-pss': [pss] };
  } finally {
    killPids(idle.map((c) => c.pid ?? 0).filter((p) => p > 0));
  }
}
