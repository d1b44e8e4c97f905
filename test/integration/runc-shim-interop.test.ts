// berth's ttrpc against the real containerd-shim-runc-v2 1.6.20, both directions: our client
// drives the shim's Task service exactly as containerd 1.6 does, and our server receives the
// shim's Events/Forward calls on TTRPC_ADDRESS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../common/index.js';
import { EVENTS_SERVICE, TASK_SERVICE, containerd, eventsServiceMethods, taskServiceMethods } from '../../proto/index.js';
// proto/ttrpc's own door (proto/index.ts is to re-export it).
import { TtrpcClient, TtrpcServer, createServiceClient, socketPathOf, type ServiceClient } from '../../proto/ttrpc/index.js';
import { makeBundle, makeBusyboxRootfs, makeFifo, makeOciSpec, openFifoReader, type FifoReader } from '../fixtures/index.js';

const SHIM = '/usr/bin/containerd-shim-runc-v2';
const RUNC = 'runc';
const CALL = { timeoutMs: 10_000 };
const STATUS_STOPPED = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = () => Math.random().toString(36).slice(2, 10);

type Envelope = { topic: string; namespace: string; event: { type_url?: string; typeUrl?: string; value: Uint8Array } };

/** Everything one test created, so afterEach can undo it even when the test failed half way. */
interface Run {
  tmp: string;
  ns: string;
  id: string;
  bundle: string;
  runcRoot: string;
  eventsPath: string;
  events: { env: Envelope; namespace: string | undefined }[];
  eventsServer: TtrpcServer;
  readers: FifoReader[];
  address?: string;
  client?: TtrpcClient;
  task?: ServiceClient<typeof taskServiceMethods>;
  shimPid?: number;
}

let run: Run | undefined;

function shimPidsFor(ns: string, id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
    const nsAt = argv.indexOf('-namespace');
    const idAt = argv.indexOf('-id');
    if (argv[nsAt + 1] === ns && argv[idAt + 1] === id) pids.push(Number(entry));
  }
  return pids;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

async function setUp(): Promise<Run> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-interop-'));
  const ns = `berth-test-${rand()}`;
  const id = `c-${rand()}`;
  const bundle = path.join(tmp, 'state', ns, id);
  await mkdir(bundle, { recursive: true, mode: 0o700 });
  const eventsPath = path.join(tmp, 'events.sock');
  const events: Run['events'] = [];
  const eventsServer = new TtrpcServer();
  eventsServer.register(EVENTS_SERVICE, eventsServiceMethods, {
    Forward: (req, ctx) => {
      events.push({ env: req.envelope as unknown as Envelope, namespace: ctx.namespace });
      return {};
    },
  });
  await eventsServer.listen(eventsPath);
  run = { tmp, ns, id, bundle, runcRoot: path.join(tmp, 'runc'), eventsPath, events, eventsServer, readers: [] };
  return run;
}

/** `<shim> start` exactly as containerd 1.6 runs it; returns the printed address. */
async function shimStart(r: Run): Promise<string> {
  // The log FIFO must exist and be open before start, or the shim server exits at once.
  const logPath = path.join(r.bundle, 'log');
  makeFifo(logPath);
  r.readers.push(openFifoReader(logPath));
  const child = spawn(
    SHIM,
    ['-namespace', r.ns, '-address', path.join(r.tmp, 'containerd.sock'), '-publish-binary', '/usr/bin/containerd', '-id', r.id, 'start'],
    {
      cwd: r.bundle,
      env: { ...process.env, TTRPC_ADDRESS: r.eventsPath, GOMAXPROCS: '2' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shim start timed out: ${out}`));
    }, 15_000);
    child.once('error', reject);
    child.once('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(code, out).toBe(0);
  r.address = out.trim();
  return r.address;
}

async function connectTask(r: Run): Promise<ServiceClient<typeof taskServiceMethods>> {
  r.client = await TtrpcClient.connect(r.address!, { namespace: r.ns, connectTimeoutMs: 5_000 });
  r.task = createServiceClient(r.client, TASK_SERVICE, taskServiceMethods);
  const connected = await r.task.Connect({ id: r.id }, CALL);
  r.shimPid = connected.shimPid ?? undefined;
  expect(r.shimPid).toBeGreaterThan(0);
  return r.task;
}

function runcOptions(r: Run) {
  const value = containerd.runc.v1.Options.encode({ root: r.runcRoot }).finish();
  return { type_url: 'containerd.runc.v1.Options', typeUrl: 'containerd.runc.v1.Options', value };
}

async function waitForEvents(r: Run, n: number): Promise<void> {
  for (let i = 0; i < 1000 && r.events.length < n; i++) await sleep(10);
}

/** Delete + Shutdown, then the shim must go away with its socket. */
async function finishTask(r: Run, task: ServiceClient<typeof taskServiceMethods>) {
  const deleted = await task.Delete({ id: r.id }, CALL);
  await task.Shutdown({ id: r.id }, CALL).catch((err: unknown) => {
    // The shim may close the connection before answering: containerd tolerates ErrClosed here too.
    if (!(isBerthError(err) && err.kind === 'unavailable')) throw err;
  });
  for (let i = 0; i < 500 && shimPidsFor(r.ns, r.id).length > 0; i++) await sleep(10);
  expect(shimPidsFor(r.ns, r.id)).toEqual([]);
  expect(existsSync(socketPathOf(r.address!))).toBe(false);
  return deleted;
}

afterEach(async () => {
  const r = run;
  run = undefined;
  if (!r) return;
  await r.client?.close();
  for (const pid of shimPidsFor(r.ns, r.id)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  spawnSync(RUNC, ['--root', path.join(r.runcRoot, r.ns), 'delete', '--force', r.id]);
  if (r.address) await rm(socketPathOf(r.address), { force: true });
  for (const mp of mountsUnder(r.tmp).reverse()) spawnSync('umount', ['-l', mp]);
  for (const reader of r.readers) reader.close();
  r.eventsServer.destroy();
  await r.eventsServer.close();
  // Checked after cleanup so a failing test still leaves nothing behind.
  expect(shimPidsFor(r.ns, r.id)).toEqual([]);
  expect(mountsUnder(r.tmp)).toEqual([]);
  await rm(r.tmp, { recursive: true, force: true });
  expect(existsSync(r.tmp)).toBe(false);
});

describe('real containerd-shim-runc-v2 over berth ttrpc', () => {
  it('runs `sh -c "exit 3"`: Wait and State report 3, events arrive in order on our Forward server', async () => {
    const r = await setUp();
    await makeBundle(r.bundle, makeOciSpec({ args: ['sh', '-c', 'exit 3'] }));
    await shimStart(r);
    expect(r.address).toMatch(/^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    const task = await connectTask(r);

    const created = await task.Create({ id: r.id, bundle: r.bundle, rootfs: [], options: runcOptions(r) as never }, CALL);
    expect(created.pid).toBeGreaterThan(0);
    const createdState = await task.State({ id: r.id }, CALL);
    expect(createdState.status).toBe(1); // CREATED

    const waited = task.Wait({ id: r.id }); // no deadline: Wait blocks until the exit
    const started = await task.Start({ id: r.id }, CALL);
    expect(started.pid).toBe(created.pid);
    expect((await waited).exitStatus).toBe(3);

    const state = await task.State({ id: r.id }, CALL);
    expect(state.status).toBe(STATUS_STOPPED);
    expect(state.exitStatus).toBe(3);
    expect(state.id).toBe(r.id);

    const deleted = await finishTask(r, task);
    expect(deleted.exitStatus).toBe(3);

    await waitForEvents(r, 4);
    expect(r.events.map((e) => e.env.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(r.events.every((e) => e.namespace === r.ns && e.env.namespace === r.ns)).toBe(true);
    const exitEnv = r.events[2]!.env;
    expect(exitEnv.event.type_url ?? exitEnv.event.typeUrl).toBe('containerd.events.TaskExit');
    const exit = containerd.events.TaskExit.decode(exitEnv.event.value);
    expect(exit).toMatchObject({ containerId: r.id, id: r.id, pid: created.pid, exitStatus: 3 });
    const createEv = containerd.events.TaskCreate.decode(r.events[0]!.env.event.value);
    expect(createEv).toMatchObject({ containerId: r.id, bundle: r.bundle, pid: created.pid });
  });

  it('kills a bind-mounted `sleep 60` with SIGKILL: 137 through Wait and State, stdout reaches our FIFO', async () => {
    const r = await setUp();
    const rootfsSrc = await makeBusyboxRootfs(path.join(r.tmp, 'rootfs-src'));
    await makeBundle(r.bundle, makeOciSpec({ args: ['sh', '-c', 'echo hello from the shim; exec sleep 60'] }), { rootfs: false });
    const stdoutPath = path.join(r.tmp, 'stdout');
    makeFifo(stdoutPath);
    const stdout = openFifoReader(stdoutPath);
    r.readers.push(stdout);
    // With any stdio set the runc shim opens all three named FIFOs (containerd always passes both).
    const stderrPath = path.join(r.tmp, 'stderr');
    makeFifo(stderrPath);
    const stderr = openFifoReader(stderrPath);
    r.readers.push(stderr);
    await shimStart(r);
    const task = await connectTask(r);

    await task.Create(
      {
        id: r.id,
        bundle: r.bundle,
        rootfs: [{ type: 'bind', source: rootfsSrc, options: ['rbind', 'rw'] }],
        stdout: stdoutPath,
        stderr: stderrPath,
        options: runcOptions(r) as never,
      },
      CALL,
    );
    expect(mountsUnder(r.bundle)).toEqual([path.join(r.bundle, 'rootfs')]);
    const waited = task.Wait({ id: r.id });
    await task.Start({ id: r.id }, CALL);
    expect(await stdout.waitFor('hello from the shim\n')).toBe('hello from the shim\n');
    expect(stderr.text()).toBe('');
    expect((await task.State({ id: r.id }, CALL)).status).toBe(2); // RUNNING

    await task.Kill({ id: r.id, signal: 9 }, CALL);
    expect((await waited).exitStatus).toBe(137);
    const state = await task.State({ id: r.id }, CALL);
    expect(state.status).toBe(STATUS_STOPPED);
    expect(state.exitStatus).toBe(137);

    const notFound = await task.Kill({ id: 'no-such-task', signal: 9 }, CALL).catch((e: unknown) => e);
    expect(isBerthError(notFound) && notFound.kind).toBe('not-found');

    expect((await finishTask(r, task)).exitStatus).toBe(137);
    expect(mountsUnder(r.tmp)).toEqual([]);
  });
});
