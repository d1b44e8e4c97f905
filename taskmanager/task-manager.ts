// The task manager: starts one shim per pod (the shim groups by io.kubernetes.cri.sandbox-id),
// drives tasks over one ttrpc connection per shim, feeds every exit into the exit monitor, and
// cleans up after dead shims. Reload after a daemon restart lives in reload.ts.
//
// Task life:  createTask: bundle + log FIFO -> `<shim> start` (skipped when the task's pod has a
//             live shim of the same binary: its address is reused) -> shim-binary-path -> dial/reuse
//             -> stdio FIFOs -> Create -> Wait armed  |  start -> Start  |  ... |  delete: Delete
//             -> (last task of the shim) Shutdown -> bundle removed.
// Exits:      Wait (armed before Start), /tasks/exit events, and dead-shim handling all go to
//             ExitMonitor.record, which de-duplicates and records durably before publishing.
import { rename, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  AlreadyExistsError, CleanupStack, InvalidArgumentError, KeyedMutex, NotFoundError, PhaseClock, isKind, silentLogger, validateIdentifier,
  type Logger,
} from '../common/index.js';
import {
  DEFAULT_ROOT_DIR, DEFAULT_STATE_DIR, bundleFile, bundlePaths, createBundle, removeBundle, type BundlePaths,
} from './bundle.js';
import { serveEvents, type EventListener, type ForwardedEvent } from './events-server.js';
import type { ExitMonitor, ExitSource, TaskExit } from './exit-monitor.js';
import { openFifoReader } from './fifo.js';
import { reloadTasks, type ReloadOutcome } from './reload.js';
import { resolveRuntime, type RuntimeResolveOptions } from './runtime-resolve.js';
import { shimDelete, shimStart, type ShimCommandContext } from './shim-binary.js';
import { GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION, fromTimestamp, type TtrpcServer } from '../proto/index.js';
import { ShimPool, removeSocketFile, type ShimConn } from './shim-pool.js';
import { closeStdio, createStdio, removeStdio, type ProcessStdio } from './stdio.js';
import {
  decodeDeleteResponse, encodeAnyBytes, encodeRuncOptions, type AnyMessage, type ExitInfo, type Mount, type ProcessState,
  type RuncOptions,
} from './task-client.js';

export interface TaskManagerOptions {
  /** Bundles live under <stateDir>/<ns>/<id> (default /run/berth/io.containerd.runtime.v2.task). */
  stateDir?: string;
  /** Work dirs live under <rootDir>/<ns>/<id> (default /var/lib/berth/io.containerd.runtime.v2.task). */
  rootDir?: string;
  /** The daemon's gRPC socket path, passed to shims as -address (also their socket hash input). */
  grpcAddress: string;
  /** The daemon's ttrpc events socket (TTRPC_ADDRESS for shims). */
  ttrpcAddress: string;
  /** Passed as -publish-binary (default: this process's executable). */
  publishBinary?: string;
  runtimes?: RuntimeResolveOptions;
  exits: ExitMonitor;
  log?: Logger;
  /** `<shim> start` deadline (default 10 s). */
  startTimeoutMs?: number;
  /** Deadline of every task call but Wait (default 10 s). */
  callTimeoutMs?: number;
  /** Dial deadline for a shim socket (default 2 s; reload fails fast on dead sockets). */
  connectTimeoutMs?: number;
  /** `<shim> delete` deadline (default 5 s). */
  cleanupTimeoutMs?: number;
  /** Shutdown deadline (default 3 s). */
  shutdownTimeoutMs?: number;
}

export interface CreateTaskRequest {
  namespace: string;
  id: string;
  /** Runtime name (io.containerd.runc.v2), configured name, or absolute shim path. */
  runtime: string;
  /** The OCI runtime spec, written to config.json. */
  spec: unknown;
  /** Mounted by the shim onto <bundle>/rootfs; empty = the spec's root.path is used as is. */
  rootfs?: Mount[];
  terminal?: boolean;
  /** Open a stdin FIFO for the init process. */
  stdin?: boolean;
  /** containerd.runc.v1.Options for the shim (start stdin and Create options). */
  options?: RuncOptions;
  /** Gets the phases 'bundle', 'shim start' (or 'shim reuse'), 'shim connect' and 'task create'. */
  clock?: PhaseClock;
}

export interface ExecRequest {
  /** OCI Process object (JSON). */
  spec: unknown;
  terminal?: boolean;
  stdin?: boolean;
}

/** What a caller holds for a task or exec: its streams. Readonly view. */
export interface ProcessHandle {
  readonly namespace: string;
  readonly id: string;
  readonly execId: string;
  readonly stdin?: net.Socket;
  readonly stdout?: net.Socket;
  readonly stderr?: net.Socket;
}

export interface TaskHandle extends ProcessHandle {
  readonly pid: number;
  readonly bundle: string;
  readonly shimAddress: string;
}

export interface TaskEntry {
  namespace: string;
  id: string;
  bundle: BundlePaths;
  shim: ShimConn;
  pid: number;
  stdio: ProcessStdio;
  logFifo?: net.Socket;
  execs: Map<string, { stdio: ProcessStdio; pid: number }>;
}

export const taskKey = (namespace: string, id: string): string => `${namespace}/${id}`;

export class TaskManager {
  readonly stateDir: string;
  readonly rootDir: string;
  readonly exits: ExitMonitor;
  readonly log: Logger;
  readonly tasks = new Map<string, TaskEntry>();
  readonly pool: ShimPool;
  readonly locks = new KeyedMutex();
  readonly timeouts: { start: number; call: number; connect: number; cleanup: number; shutdown: number };
  readonly #listeners = new Set<EventListener>();
  #events: TtrpcServer | undefined;
  #closed = false;

  /** Creates a task manager and starts its Events service on opts.ttrpcAddress. */
  static async open(opts: TaskManagerOptions): Promise<TaskManager> {
    const tm = new TaskManager(opts);
    tm.#events = await serveEvents(opts.ttrpcAddress, (ev) => tm.#onEvent(ev), tm.log);
    return tm;
  }

  /** Reconnects every shim found in the state dir (after a daemon restart). */
  reload(): Promise<ReloadOutcome[]> {
    return reloadTasks(this);
  }

  /** Listens to every event the shims forward; returns the function that stops listening. */
  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #onEvent(ev: ForwardedEvent): Promise<void> {
    if (ev.event.topic === '/tasks/exit') {
      const x = ev.event.event;
      const e = this.tasks.get(taskKey(ev.namespace, x.containerId ?? ''));
      const pid = e === undefined ? 0 : x.id === e.id ? e.pid : (e.execs.get(x.id)?.pid ?? 0);
      // Only processes we know, with the pid we know (a shim always sends the real pid): a late
      // (retried) event of an earlier task with the same id, or a forged one with pid 0, must not
      // stand in for this task's exit. An event dropped here is still seen by the task's Wait.
      if (e && pid > 0 && x.pid === pid) {
        await this.recordExit({
          namespace: ev.namespace, containerId: e.id, id: x.id, pid: x.pid ?? 0, exitStatus: x.exitStatus ?? 0,
          exitedAt: fromTimestamp(x.exitedAt) ?? ev.timestamp,
        }, 'event');
      }
    }
    for (const l of this.#listeners) {
      try {
        await l(ev);
      } catch (err) {
        this.log.warn({ err, topic: ev.event.topic }, 'event listener failed');
      }
    }
  }

  constructor(readonly opts: TaskManagerOptions) {
    this.stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    this.rootDir = opts.rootDir ?? DEFAULT_ROOT_DIR;
    this.exits = opts.exits;
    this.log = opts.log ?? silentLogger;
    this.timeouts = {
      start: opts.startTimeoutMs ?? 10_000, call: opts.callTimeoutMs ?? 10_000, connect: opts.connectTimeoutMs ?? 2_000,
      cleanup: opts.cleanupTimeoutMs ?? 5_000, shutdown: opts.shutdownTimeoutMs ?? 3_000,
    };
    this.pool = new ShimPool({
      callTimeoutMs: this.timeouts.call, connectTimeoutMs: this.timeouts.connect, log: this.log,
      onDead: (conn, cause) => {
        this.handleDeadShim(conn, cause).catch((err: unknown) => this.log.error({ err, address: conn.address }, 'dead shim cleanup failed'));
      },
    });
  }

  shimContext(binary: string, b: BundlePaths): ShimCommandContext {
    return {
      binary, namespace: b.namespace, id: b.id, bundle: b.path, grpcAddress: this.opts.grpcAddress,
      ttrpcAddress: this.opts.ttrpcAddress, publishBinary: this.opts.publishBinary ?? process.execPath,
    };
  }

  /** Opens the bundle's log FIFO and copies what the shim writes there into the daemon's log. */
  openShimLog(b: BundlePaths): net.Socket {
    const s = openFifoReader(bundleFile(b, 'log'));
    const log = this.log.child({ shim: `${b.namespace}/${b.id}` });
    s.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line.trim() !== '') log.info({ shimLog: line }, 'shim log');
    });
    s.on('error', (err) => log.warn({ err }, 'shim log FIFO error'));
    return s;
  }

  #entry(namespace: string, id: string): TaskEntry {
    const e = this.tasks.get(taskKey(namespace, id));
    if (!e) throw new NotFoundError(`task ${namespace}/${id}: not found`);
    return e;
  }

  /** Creates a task (bundle, shim, Create) and arms its Wait. The task is CREATED, not started. */
  async createTask(req: CreateTaskRequest): Promise<TaskHandle> {
    validateIdentifier(req.namespace, 'namespace');
    validateIdentifier(req.id, 'task id');
    return this.locks.run(taskKey(req.namespace, req.id), () => this.#createLocked(req));
  }

  async #createLocked(req: CreateTaskRequest): Promise<TaskHandle> {
    if (this.#closed) throw new InvalidArgumentError('task manager is closed');
    const key = taskKey(req.namespace, req.id);
    if (this.tasks.has(key)) throw new AlreadyExistsError(`task ${key}: already exists`);
    if (req.spec === undefined || req.spec === null) throw new InvalidArgumentError(`task ${key}: an OCI spec (config.json) is required`);
    const binary = resolveRuntime(req.runtime, this.opts.runtimes);
    const b = bundlePaths(this.stateDir, this.rootDir, req.namespace, req.id);
    const undo = new CleanupStack();
    const clock = req.clock ?? new PhaseClock();
    let t = performance.now();
    try {
      await createBundle(b, req.spec, this.log);
      undo.push(`remove bundle ${b.path}`, () => removeBundle(b));
      // The real shim dies at once if the log FIFO has no reader: open it BEFORE start.
      const logFifo = this.openShimLog(b);
      undo.push('close shim log', () => logFifo.destroy());
      const options = req.options ? encodeRuncOptions(req.options) : undefined;
      const podShim = this.#podShim(req, binary);
      clock.record('bundle', t, (t = performance.now()));
      let address: string;
      if (podShim) {
        // The pod's shim serves already: no `<shim> start` (containerd 1.7 reuses a sandbox's shim
        // the same way). The bundle gets the `address` file the shim would have written.
        address = podShim.address;
        await writeFile(bundleFile(b, '.address'), address, { mode: 0o600 });
        await rename(bundleFile(b, '.address'), bundleFile(b, 'address'));
      } else {
        address = await shimStart(this.shimContext(binary, b), options ? encodeAnyBytes(options) : undefined, this.timeouts.start);
      }
      await writeFile(bundleFile(b, 'shim-binary-path'), binary);
      clock.record(podShim ? 'shim reuse' : 'shim start', t, (t = performance.now()));
      const conn = await this.pool.acquire(address, req.namespace, binary);
      clock.record('shim connect', t, performance.now());
      undo.push(`release shim ${address}`, async () => {
        if (conn.tasks.size === 0) await this.pool.shutdown(conn, req.id, this.timeouts.shutdown);
      });
      const stdio = await createStdio(bundleFile(b, 'io'), '', { stdin: req.stdin ?? false, terminal: req.terminal ?? false }, this.log);
      undo.push('close stdio', () => closeStdio(stdio));
      await this.exits.forget(req.namespace, req.id, req.id); // a new task: its exit is not recorded yet
      const pid = await clock.time('task create', () => conn.api.create(req.id, b.path, req.rootfs ?? [], stdio.paths, options));
      undo.push(`delete task ${key} in shim`, () => conn.api.delete(req.id).catch(() => undefined));
      if (conn.shimPid === 0) conn.shimPid = (await conn.api.connect(req.id)).shimPid;
      const entry: TaskEntry = { namespace: req.namespace, id: req.id, bundle: b, shim: conn, pid, stdio, logFifo, execs: new Map() };
      this.tasks.set(key, entry);
      conn.tasks.add(key);
      undo.release();
      this.armWait(entry, '');
      return this.#handle(entry);
    } catch (err) {
      await undo.unwind(this.log, { timeoutMs: this.timeouts.cleanup });
      throw err;
    }
  }

  /**
   * The live shim of the task's pod, when the task names a pod (io.kubernetes.cri.sandbox-id,
   * no io.containerd.runc.v2.group of its own) whose sandbox task runs in a shim of the same
   * binary in the same namespace; undefined means `<shim> start` decides.
   */
  #podShim(req: CreateTaskRequest, binary: string): ShimConn | undefined {
    const annotations = (req.spec as { annotations?: Record<string, unknown> }).annotations;
    if (!annotations || typeof annotations !== 'object' || annotations[GROUP_ANNOTATION] !== undefined) return undefined;
    const sandboxId = annotations[SANDBOX_ID_ANNOTATION];
    if (typeof sandboxId !== 'string' || sandboxId === '' || sandboxId === req.id) return undefined;
    const sandbox = this.tasks.get(taskKey(req.namespace, sandboxId));
    const conn = sandbox?.shim;
    if (!conn || conn.binary !== binary || conn.closing || conn.api.client.closed) return undefined;
    return conn;
  }

  #handle(e: TaskEntry): TaskHandle {
    return Object.freeze({
      namespace: e.namespace, id: e.id, execId: '', pid: e.pid, bundle: e.bundle.path, shimAddress: e.shim.address,
      ...(e.stdio.stdin ? { stdin: e.stdio.stdin } : {}),
      ...(e.stdio.stdout ? { stdout: e.stdio.stdout } : {}),
      ...(e.stdio.stderr ? { stderr: e.stdio.stderr } : {}),
    });
  }

  /** The handle of a known task (e.g. after reload), or NotFound. */
  task(namespace: string, id: string): TaskHandle {
    return this.#handle(this.#entry(namespace, id));
  }

  list(): TaskHandle[] {
    return [...this.tasks.values()].map((e) => this.#handle(e));
  }

  /** The pid of the shim serving a task. */
  shimPid(namespace: string, id: string): number {
    return this.#entry(namespace, id).shim.shimPid;
  }

  /** Consumes the process's Wait into the exit monitor. A closed connection is not an exit. */
  armWait(e: TaskEntry, execId: string): void {
    const conn = e.shim;
    const procId = execId === '' ? e.id : execId;
    conn.api.wait(e.id, execId).then(
      (r) => {
        const pid = execId === '' ? e.pid : (e.execs.get(execId)?.pid ?? 0);
        return this.recordExit({ namespace: e.namespace, containerId: e.id, id: procId, pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt }, 'wait');
      },
      (err: unknown) => {
        if (conn.api.client.closed || conn.closing) return; // dead-shim handling reports it
        this.log.warn({ err, task: e.id, execId }, 'wait failed; reporting exit 255');
        return this.recordExit({ namespace: e.namespace, containerId: e.id, id: procId, pid: 0, exitStatus: 255, exitedAt: new Date() }, 'wait');
      },
    ).catch((err: unknown) => this.log.error({ err, task: e.id, execId }, 'cannot record exit'));
  }

  /** Records an exit, retrying a failing db write (1 s doubling, 5 tries). */
  async recordExit(exit: TaskExit, source: ExitSource): Promise<void> {
    for (let attempt = 0, delay = 1_000; ; attempt++, delay *= 2) {
      try {
        await this.exits.record(exit, source);
        return;
      } catch (err) {
        if (attempt >= 4) throw err;
        this.log.warn({ err, exit }, 'recording exit failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async start(namespace: string, id: string): Promise<number> {
    const e = this.#entry(namespace, id);
    e.pid = await e.shim.api.start(id, '');
    return e.pid;
  }

  async state(namespace: string, id: string, execId = ''): Promise<ProcessState> {
    return this.#entry(namespace, id).shim.api.state(id, execId);
  }

  async pids(namespace: string, id: string): Promise<Array<{ pid: number; info?: AnyMessage }>> {
    return this.#entry(namespace, id).shim.api.pids(id);
  }

  async kill(namespace: string, id: string, signal: number, opts: { execId?: string; all?: boolean } = {}): Promise<void> {
    return this.#entry(namespace, id).shim.api.kill(id, opts.execId ?? '', signal, opts.all ?? false);
  }

  async pause(namespace: string, id: string): Promise<void> {
    return this.#entry(namespace, id).shim.api.pause(id);
  }

  async resume(namespace: string, id: string): Promise<void> {
    return this.#entry(namespace, id).shim.api.resume(id);
  }

  /** Updates resources: an OCI LinuxResources object, sent as JSON. */
  async update(namespace: string, id: string, resources: unknown, annotations?: Record<string, string>): Promise<void> {
    return this.#entry(namespace, id).shim.api.update(id, resources, annotations);
  }

  async stats(namespace: string, id: string): Promise<AnyMessage> {
    return this.#entry(namespace, id).shim.api.stats(id);
  }

  async resizePty(namespace: string, id: string, width: number, height: number, execId = ''): Promise<void> {
    return this.#entry(namespace, id).shim.api.resizePty(id, execId, width, height);
  }

  /** Closes the process's stdin (ours and the shim's side). */
  async closeIO(namespace: string, id: string, execId = ''): Promise<void> {
    const e = this.#entry(namespace, id);
    const stdio = execId === '' ? e.stdio : e.execs.get(execId)?.stdio;
    stdio?.stdin?.end();
    await e.shim.api.closeIO(id, execId);
  }

  /** Resolves with the process's exit (from the armed Wait, an event, or dead-shim handling). */
  async wait(namespace: string, id: string, execId = ''): Promise<TaskExit> {
    this.#entry(namespace, id);
    return this.exits.waitFor(namespace, id, execId === '' ? id : execId);
  }

  /** Adds an exec process (not started). */
  async exec(namespace: string, id: string, execId: string, req: ExecRequest): Promise<ProcessHandle> {
    validateIdentifier(execId, 'exec id');
    const e = this.#entry(namespace, id);
    if (e.execs.has(execId)) throw new AlreadyExistsError(`exec ${execId} in task ${id}: already exists`);
    if (req.spec === null || typeof req.spec !== 'object') throw new InvalidArgumentError(`exec ${execId}: process spec must be an object`);
    const ioDir = bundleFile(e.bundle, 'io');
    const stdio = await createStdio(ioDir, execId, { stdin: req.stdin ?? false, terminal: req.terminal ?? false }, this.log);
    try {
      await this.exits.forget(namespace, id, execId);
      await e.shim.api.exec(id, execId, stdio.paths, req.spec);
    } catch (err) {
      closeStdio(stdio);
      await removeStdio(ioDir, execId);
      throw err;
    }
    e.execs.set(execId, { stdio, pid: 0 });
    return Object.freeze({
      namespace, id, execId,
      ...(stdio.stdin ? { stdin: stdio.stdin } : {}), ...(stdio.stdout ? { stdout: stdio.stdout } : {}), ...(stdio.stderr ? { stderr: stdio.stderr } : {}),
    });
  }

  /** Starts an exec; its Wait is armed first so an instant exit is not missed. */
  async startExec(namespace: string, id: string, execId: string): Promise<number> {
    const e = this.#entry(namespace, id);
    const x = e.execs.get(execId);
    if (!x) throw new NotFoundError(`exec ${execId} in task ${id}: not found`);
    this.armWait(e, execId);
    x.pid = await e.shim.api.start(id, execId);
    return x.pid;
  }

  async deleteExec(namespace: string, id: string, execId: string): Promise<ExitInfo> {
    const e = this.#entry(namespace, id);
    const x = e.execs.get(execId);
    if (!x) throw new NotFoundError(`exec ${execId} in task ${id}: not found`);
    const r = await e.shim.api.delete(id, execId);
    await this.recordExit({ namespace, containerId: id, id: execId, ...r }, 'wait');
    e.execs.delete(execId);
    closeStdio(x.stdio);
    await removeStdio(bundleFile(e.bundle, 'io'), execId);
    return r;
  }

  /** Deletes a stopped (or created) task; the shim gets Shutdown when it was its last task. */
  async delete(namespace: string, id: string): Promise<ExitInfo> {
    return this.locks.run(taskKey(namespace, id), async () => {
      const e = this.#entry(namespace, id);
      let r: ExitInfo;
      try {
        r = await e.shim.api.delete(id, '');
      } catch (err) {
        if (!isKind(err, 'not-found')) throw err;
        r = { pid: e.pid, exitStatus: 255, exitedAt: new Date() };
      }
      await this.recordExit({ namespace, containerId: id, id, ...r }, 'wait');
      await this.#forgetTask(e);
      if (e.shim.tasks.size === 0) await this.pool.shutdown(e.shim, id, this.timeouts.shutdown);
      await removeBundle(e.bundle);
      return r;
    });
  }

  async #forgetTask(e: TaskEntry): Promise<void> {
    const key = taskKey(e.namespace, e.id);
    this.tasks.delete(key);
    e.shim.tasks.delete(key);
    for (const [, x] of e.execs) closeStdio(x.stdio);
    e.execs.clear();
    closeStdio(e.stdio);
    e.logFifo?.destroy();
  }

  /**
   * A shim's connection closed while it still had tasks: remove its socket, run `<shim> delete`
   * for each task, report every task (and exec) not already reported as exited, clean bundles
   * and FIFOs.
   */
  async handleDeadShim(conn: ShimConn, cause?: Error): Promise<void> {
    this.log.warn({ err: cause, address: conn.address, tasks: [...conn.tasks] }, 'shim connection closed: cleaning up after dead shim');
    // The socket first: nothing serves it any more, and a start for the same pod made while the
    // tasks are cleaned up binds a new one there that must not be removed afterwards.
    await removeSocketFile(conn.address, this.log);
    const entries = [...conn.tasks].map((k) => this.tasks.get(k)).filter((e): e is TaskEntry => e !== undefined);
    await Promise.all(entries.map((e) => this.locks.run(taskKey(e.namespace, e.id), () => this.#cleanupDeadTask(e))));
  }

  async #cleanupDeadTask(e: TaskEntry): Promise<void> {
    if (this.tasks.get(taskKey(e.namespace, e.id)) !== e) return; // deleted meanwhile
    const r = await this.runShimDelete(e.shim.binary, e.bundle, e.pid);
    const now = new Date();
    await Promise.all([
      this.recordExit({ namespace: e.namespace, containerId: e.id, id: e.id, ...r }, 'dead-shim'),
      ...[...e.execs].map(([execId, x]) =>
        this.recordExit({ namespace: e.namespace, containerId: e.id, id: execId, pid: x.pid, exitStatus: 255, exitedAt: now }, 'dead-shim')),
    ]).catch((err: unknown) => this.log.error({ err, task: e.id }, 'cannot record dead shim exit'));
    await this.#forgetTask(e);
    await removeBundle(e.bundle).catch((err: unknown) => this.log.warn({ err, bundle: e.bundle.path }, 'cannot remove bundle'));
  }

  /** `<shim> delete` for a dead shim's task: its DeleteResponse, or 255/now when it fails. */
  async runShimDelete(binary: string, b: BundlePaths, pid: number): Promise<ExitInfo> {
    try {
      const out = await shimDelete(this.shimContext(binary, b), this.timeouts.cleanup);
      if (out.stderr.trim() !== '') this.log.warn({ task: b.id, stderr: out.stderr.trim() }, 'shim delete: cleanup warnings');
      return decodeDeleteResponse(out.stdout);
    } catch (err) {
      this.log.warn({ err, task: b.id }, 'shim delete failed; reporting exit 255');
      return { pid, exitStatus: 255, exitedAt: new Date() };
    }
  }

  /** Closes every shim connection (shims and tasks keep running; reload() finds them again). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.tasks.values()) {
      closeStdio(e.stdio);
      for (const x of e.execs.values()) closeStdio(x.stdio);
      e.logFifo?.destroy();
    }
    this.tasks.clear();
    await this.pool.closeAll();
    await this.#events?.close({ timeoutMs: 1_000 });
  }
}
