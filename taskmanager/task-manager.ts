// The task manager (containerd's runtime/v2 TaskManager): task and exec calls over the shim's
// ttrpc connection, and every exit fed into the exit monitor. Which shim serves a task, its
// bundle, `<shim> start`/`delete`, pod-shim reuse, dead shims and reload are the shim manager's
// (shim-manager.ts); it hands tasks back through `adopt` (reload) and `died` (dead shim).
//
// Task life:  createTask: launch (bundle + log FIFO -> `<shim> start` or the pod's shim ->
//             connect) -> stdio FIFOs -> Create -> Wait armed  |  start -> Start  |  ... |
//             delete: Delete -> exit records forgotten -> (last task of the shim) Shutdown ->
//             bundle removed.
// Exits:      Wait (armed before Start), /tasks/exit events, dead-shim handling and a Delete of a
//             task that never exited all go to ExitMonitor.record, which de-duplicates.
import type net from 'node:net';
import {
  AlreadyExistsError, CleanupStack, InvalidArgumentError, faultPoint, KeyedMutex, NotFoundError, PhaseClock, isKind, silentLogger, validateIdentifier,
  type Logger,
} from '../common/index.js';
import { fromTimestamp, type TtrpcServer } from '../proto/index.js';
import { DEFAULT_ROOT_DIR, DEFAULT_STATE_DIR, bundleFile, bundlePaths } from './bundle.js';
import { serveEvents, type EventListener, type ForwardedEvent } from './events-server.js';
import type { ExitMonitor, ExitSource, TaskExit } from './exit-monitor.js';
import { listSync } from './reload.js';
import { resolveRuntime, type RuntimeResolveOptions } from './runtime-resolve.js';
import { ShimManager, taskKey, type ShimTask } from './shim-manager.js';
import { closeStdio, createStdio, execIdsIn, removeStdio, reopenStdio, type ProcessStdio } from './stdio.js';
import {
  encodeRuncOptions, type AnyMessage, type ExitInfo, type Mount, type ProcessState, type RuncOptions,
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

export type ReloadOutcome =
  | { kind: 'reloaded'; namespace: string; id: string; task: TaskHandle }
  | { kind: 'dead'; namespace: string; id: string; exit: ExitInfo }
  | { kind: 'removed'; namespace: string; id: string; reason: string }
  /** The pod shim of a pod without a pause process: `alive` when it serves again. */
  | { kind: 'pod-shim'; namespace: string; id: string; alive: boolean };

export interface PodShimRequest {
  namespace: string;
  /** The pod's sandbox id: the shim is the one its tasks' `io.kubernetes.cri.sandbox-id` names. */
  id: string;
  runtime: string;
  /** Written as the pod shim bundle's config.json: the pod's annotations, no process. */
  spec: unknown;
  options?: RuncOptions;
  clock?: PhaseClock;
}

interface TaskEntry {
  readonly shim: ShimTask;
  pid: number;
  readonly stdio: ProcessStdio;
  readonly execs: Map<string, { stdio: ProcessStdio; pid: number }>;
}

export class TaskManager {
  readonly #log: Logger;
  readonly #exits: ExitMonitor;
  readonly #tasks = new Map<string, TaskEntry>();
  /** Per task: create, delete, reload and dead-shim cleanup (shared with the shim manager). */
  readonly #locks = new KeyedMutex();
  readonly #shims: ShimManager;
  readonly #runtimes: RuntimeResolveOptions | undefined;
  readonly #dirs: { state: string; root: string };
  readonly #listeners = new Set<EventListener>();
  #events: TtrpcServer | undefined;
  #closed = false;
  /** Handles of the tasks adopted by the reload in progress. */
  #adopted: Map<string, TaskHandle> | undefined;

  /** Creates a task manager and starts its Events service on opts.ttrpcAddress. */
  static async open(opts: TaskManagerOptions): Promise<TaskManager> {
    const tm = new TaskManager(opts);
    tm.#events = await serveEvents(opts.ttrpcAddress, (ev) => tm.#onEvent(ev), tm.#log);
    return tm;
  }

  private constructor(opts: TaskManagerOptions) {
    this.#log = opts.log ?? silentLogger;
    this.#exits = opts.exits;
    this.#runtimes = opts.runtimes;
    this.#dirs = { state: opts.stateDir ?? DEFAULT_STATE_DIR, root: opts.rootDir ?? DEFAULT_ROOT_DIR };
    this.#shims = new ShimManager({
      stateDir: this.#dirs.state, rootDir: this.#dirs.root, grpcAddress: opts.grpcAddress, ttrpcAddress: opts.ttrpcAddress,
      publishBinary: opts.publishBinary ?? process.execPath, locks: this.#locks, log: this.#log,
      timeouts: {
        start: opts.startTimeoutMs ?? 10_000, call: opts.callTimeoutMs ?? 10_000, connect: opts.connectTimeoutMs ?? 2_000,
        cleanup: opts.cleanupTimeoutMs ?? 5_000, shutdown: opts.shutdownTimeoutMs ?? 3_000,
      },
    }, {
      adopt: (t, pid) => this.#adopt(t, pid), died: (ns, id, exit) => this.#died(ns, id, exit),
      podShimDied: (ns, id) => this.#podShimDied(ns, id),
    });
  }

  /** Reconnects every shim found in the state dir (after a daemon restart). */
  async reload(): Promise<ReloadOutcome[]> {
    const adopted = new Map<string, TaskHandle>();
    this.#adopted = adopted;
    try {
      // A task adopted here may already be gone again (its shim died meanwhile): its handle is
      // the one taken when it was adopted, and its exit comes through the dead-shim path.
      return (await this.#shims.reload()).map((o): ReloadOutcome => (o.kind === 'reloaded'
        ? { ...o, task: adopted.get(taskKey(o.namespace, o.id)) ?? this.task(o.namespace, o.id) }
        : o));
    } finally {
      this.#adopted = undefined;
    }
  }

  /** Listens to every event the shims forward; returns the function that stops listening. */
  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #onEvent(ev: ForwardedEvent): Promise<void> {
    if (ev.event.topic === '/tasks/exit') {
      const x = ev.event.event;
      const e = this.#tasks.get(taskKey(ev.namespace, x.containerId ?? ''));
      const pid = e === undefined ? 0 : x.id === e.shim.id ? e.pid : (e.execs.get(x.id)?.pid ?? 0);
      // Only processes we know, with the pid we know (a shim always sends the real pid): a late
      // (retried) event of an earlier task with the same id, or a forged one with pid 0, must not
      // stand in for this task's exit. An event dropped here is still seen by the task's Wait.
      if (e && pid > 0 && x.pid === pid) {
        this.#report({
          namespace: ev.namespace, containerId: e.shim.id, id: x.id, pid: x.pid ?? 0, exitStatus: x.exitStatus ?? 0,
          exitedAt: fromTimestamp(x.exitedAt) ?? ev.timestamp,
        }, 'event');
      }
    }
    for (const l of this.#listeners) {
      try {
        await l(ev);
      } catch (err) {
        this.#log.warn({ err, topic: ev.event.topic }, 'event listener failed');
      }
    }
  }

  #entry(namespace: string, id: string): TaskEntry {
    const e = this.#tasks.get(taskKey(namespace, id));
    if (!e) throw new NotFoundError(`task ${namespace}/${id}: not found`);
    return e;
  }

  /** Whether the task exists here (created and not deleted, its shim not found dead). */
  has(namespace: string, id: string): boolean {
    return this.#tasks.has(taskKey(namespace, id));
  }

  /** Creates a task (bundle, shim, Create) and arms its Wait. The task is CREATED, not started. */
  async createTask(req: CreateTaskRequest): Promise<TaskHandle> {
    validateIdentifier(req.namespace, 'namespace');
    validateIdentifier(req.id, 'task id');
    return this.#locks.run(taskKey(req.namespace, req.id), () => this.#createLocked(req));
  }

  async #createLocked(req: CreateTaskRequest): Promise<TaskHandle> {
    if (this.#closed) throw new InvalidArgumentError('task manager is closed');
    const key = taskKey(req.namespace, req.id);
    if (this.#tasks.has(key)) throw new AlreadyExistsError(`task ${key}: already exists`);
    if (req.spec === undefined || req.spec === null) throw new InvalidArgumentError(`task ${key}: an OCI spec (config.json) is required`);
    const binary = resolveRuntime(req.runtime, this.#runtimes);
    const b = bundlePaths(this.#dirs.state, this.#dirs.root, req.namespace, req.id);
    const undo = new CleanupStack();
    const clock = req.clock ?? new PhaseClock();
    try {
      const options = req.options ? encodeRuncOptions(req.options) : undefined;
      const shim = await this.#shims.launch({ namespace: req.namespace, id: req.id, binary, spec: req.spec, options, clock }, undo, b);
      const api = shim.conn.api;
      const stdio = await createStdio(bundleFile(b, 'io'), '', { stdin: req.stdin ?? false, terminal: req.terminal ?? false }, this.#log);
      undo.push('close stdio', () => closeStdio(stdio));
      this.#exits.forget(req.namespace, req.id); // a new task: its exit is not known yet
      const creating = clock.time('task create', () => api.create(req.id, b.path, req.rootfs ?? [], stdio.paths, options));
      faultPoint('task:create-sent'); // the shim is running `runc create` (docs/crash-safety.md)
      const pid = await creating;
      undo.push(`delete task ${key} in shim`, () => api.delete(req.id).catch(() => undefined));
      faultPoint('task:created');
      await this.#shims.connected(shim.conn, req.id);
      const entry: TaskEntry = { shim, pid, stdio, execs: new Map() };
      this.#tasks.set(key, entry);
      this.#shims.bind(shim);
      undo.release();
      this.#armWait(entry, '');
      return this.#handle(entry);
    } catch (err) {
      await undo.unwind(this.#log, { timeoutMs: 10_000 });
      throw err;
    }
  }

  /**
   * Starts the shim of a pod that runs without a pause process, before any of its tasks: the
   * pod's tasks then find it serving (docs/taskmanager.md, "Pod shims"). Returns the shim's pid.
   */
  async startPodShim(req: PodShimRequest): Promise<number> {
    validateIdentifier(req.namespace, 'namespace');
    validateIdentifier(req.id, 'sandbox id');
    return this.#locks.run(taskKey(req.namespace, req.id), async () => {
      if (this.#closed) throw new InvalidArgumentError('task manager is closed');
      const binary = resolveRuntime(req.runtime, this.#runtimes);
      const b = bundlePaths(this.#dirs.state, this.#dirs.root, req.namespace, req.id);
      const options = req.options ? encodeRuncOptions(req.options) : undefined;
      const undo = new CleanupStack();
      try {
        const pid = await this.#shims.startPodShim({ namespace: req.namespace, id: req.id, binary, spec: req.spec, options, clock: req.clock ?? new PhaseClock() }, b, undo);
        undo.release();
        return pid;
      } catch (err) {
        await undo.unwind(this.#log, { timeoutMs: 10_000 });
        throw err;
      }
    });
  }

  /** The pid of pod `id`'s pod shim while it serves; undefined otherwise. */
  podShimPid(namespace: string, id: string): number | undefined {
    return this.#shims.podShimPid(namespace, id);
  }

  /** The pod lets go of its pod shim (it exits once it serves no task); idempotent. */
  async stopPodShim(namespace: string, id: string): Promise<void> {
    validateIdentifier(id, 'sandbox id');
    const b = bundlePaths(this.#dirs.state, this.#dirs.root, namespace, id);
    await this.#locks.run(taskKey(namespace, id), () => this.#shims.stopPodShim(namespace, id, b));
  }

  /** A pod shim died: the pod's own "exit" (255), as a pause task's would be reported. */
  #podShimDied(namespace: string, id: string): void {
    const r = this.#exits.record({ namespace, containerId: id, id, pid: 0, exitStatus: 255, exitedAt: new Date() }, 'dead-shim');
    void r.handled.then(() => this.#exits.forget(namespace, id, id, r.exit));
  }

  #handle(e: TaskEntry): TaskHandle {
    return Object.freeze({
      namespace: e.shim.namespace, id: e.shim.id, execId: '', pid: e.pid, bundle: e.shim.bundle.path, shimAddress: e.shim.conn.address,
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
    return [...this.#tasks.values()].map((e) => this.#handle(e));
  }

  /** The pid of the shim serving a task (0 while Connect has not answered). */
  shimPid(namespace: string, id: string): number {
    return this.#entry(namespace, id).shim.conn.shimPid ?? 0;
  }

  /** Consumes the process's Wait into the exit monitor. A closed connection is not an exit. */
  #armWait(e: TaskEntry, execId: string): void {
    const { namespace, id, conn } = e.shim;
    const procId = execId === '' ? id : execId;
    // A Wait that answers after its task or exec was deleted adds nothing: the delete reported it.
    const current = () => this.#tasks.get(taskKey(namespace, id)) === e && (execId === '' || e.execs.has(execId));
    conn.api.wait(id, execId).then(
      (r) => {
        if (!current()) return;
        const pid = execId === '' ? e.pid : (e.execs.get(execId)?.pid ?? 0);
        this.#report({ namespace, containerId: id, id: procId, pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt }, 'wait');
      },
      (err: unknown) => {
        if (!conn.usable || !current()) return; // closed on purpose, or dead-shim handling reports it
        this.#log.warn({ err, task: id, execId }, 'wait failed; reporting exit 255');
        this.#report({ namespace, containerId: id, id: procId, pid: 0, exitStatus: 255, exitedAt: new Date() }, 'wait');
      },
    );
  }

  #report(exit: TaskExit, source: ExitSource): void {
    this.#exits.record(exit, source);
  }

  async start(namespace: string, id: string): Promise<number> {
    const e = this.#entry(namespace, id);
    e.pid = await e.shim.conn.api.start(id, '');
    return e.pid;
  }

  async state(namespace: string, id: string, execId = ''): Promise<ProcessState> {
    return this.#entry(namespace, id).shim.conn.api.state(id, execId);
  }

  async pids(namespace: string, id: string): Promise<Array<{ pid: number; info?: AnyMessage }>> {
    return this.#entry(namespace, id).shim.conn.api.pids(id);
  }

  async kill(namespace: string, id: string, signal: number, opts: { execId?: string; all?: boolean } = {}): Promise<void> {
    return this.#entry(namespace, id).shim.conn.api.kill(id, opts.execId ?? '', signal, opts.all ?? false);
  }

  async pause(namespace: string, id: string): Promise<void> {
    return this.#entry(namespace, id).shim.conn.api.pause(id);
  }

  async resume(namespace: string, id: string): Promise<void> {
    return this.#entry(namespace, id).shim.conn.api.resume(id);
  }

  /** Updates resources: an OCI LinuxResources object, sent as JSON. */
  async update(namespace: string, id: string, resources: unknown, annotations?: Record<string, string>): Promise<void> {
    return this.#entry(namespace, id).shim.conn.api.update(id, resources, annotations);
  }

  async stats(namespace: string, id: string): Promise<AnyMessage> {
    return this.#entry(namespace, id).shim.conn.api.stats(id);
  }

  async resizePty(namespace: string, id: string, width: number, height: number, execId = ''): Promise<void> {
    return this.#entry(namespace, id).shim.conn.api.resizePty(id, execId, width, height);
  }

  /** Closes the process's stdin (ours and the shim's side). */
  async closeIO(namespace: string, id: string, execId = ''): Promise<void> {
    const e = this.#entry(namespace, id);
    const stdio = execId === '' ? e.stdio : e.execs.get(execId)?.stdio;
    stdio?.stdin?.end();
    await e.shim.conn.api.closeIO(id, execId);
  }

  /** Resolves with the process's exit (from the armed Wait, an event, or dead-shim handling). */
  async wait(namespace: string, id: string, execId = ''): Promise<TaskExit> {
    this.#entry(namespace, id);
    return this.#exits.waitFor(namespace, id, execId === '' ? id : execId);
  }

  /** Adds an exec process (not started). */
  async exec(namespace: string, id: string, execId: string, req: ExecRequest): Promise<ProcessHandle> {
    validateIdentifier(execId, 'exec id');
    const e = this.#entry(namespace, id);
    if (e.execs.has(execId)) throw new AlreadyExistsError(`exec ${execId} in task ${id}: already exists`);
    if (req.spec === null || typeof req.spec !== 'object') throw new InvalidArgumentError(`exec ${execId}: process spec must be an object`);
    const ioDir = bundleFile(e.shim.bundle, 'io');
    const stdio = await createStdio(ioDir, execId, { stdin: req.stdin ?? false, terminal: req.terminal ?? false }, this.#log);
    try {
      this.#exits.forget(namespace, id, execId);
      await e.shim.conn.api.exec(id, execId, stdio.paths, req.spec);
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
    this.#armWait(e, execId);
    x.pid = await e.shim.conn.api.start(id, execId);
    return x.pid;
  }

  /** Deletes an exec; its exit (reported now if it was not yet) is forgotten. */
  /**
   * Deletes an exec in its shim, then closes its stdio. `beforeClose` runs in between: the runc
   * shim's Delete returns only once its copy of the exec's output into the FIFOs ended, so a
   * reader drained there has the whole output (docs/taskmanager.md "Exec output").
   */
  async deleteExec(namespace: string, id: string, execId: string, opts: { beforeClose?: () => Promise<void> } = {}): Promise<ExitInfo> {
    const e = this.#entry(namespace, id);
    const x = e.execs.get(execId);
    if (!x) throw new NotFoundError(`exec ${execId} in task ${id}: not found`);
    const r = await e.shim.conn.api.delete(id, execId);
    this.#report({ namespace, containerId: id, id: execId, ...r }, 'delete');
    await opts.beforeClose?.().catch((err: unknown) => this.#log.warn({ err, task: `${namespace}/${id}`, execId }, 'exec output drain failed'));
    e.execs.delete(execId);
    this.#exits.forget(namespace, id, execId);
    closeStdio(x.stdio);
    await removeStdio(bundleFile(e.shim.bundle, 'io'), execId);
    return r;
  }

  /**
   * Deletes a stopped (or created) task; the shim gets Shutdown when it was its last task. A task
   * deleted before it exited gets Delete's status as its exit; the task's exits are forgotten.
   */
  async delete(namespace: string, id: string): Promise<ExitInfo> {
    return this.#locks.run(taskKey(namespace, id), async () => {
      const e = this.#entry(namespace, id);
      let r: ExitInfo;
      try {
        r = await e.shim.conn.api.delete(id, '');
      } catch (err) {
        if (!isKind(err, 'not-found')) throw err;
        r = { pid: e.pid, exitStatus: 255, exitedAt: new Date() };
      }
      this.#report({ namespace, containerId: id, id, ...r }, 'delete');
      this.#forgetTask(e);
      this.#exits.forget(namespace, id);
      for (const execId of e.execs.keys()) this.#exits.forget(namespace, id, execId);
      e.execs.clear();
      await this.#shims.remove(e.shim);
      return r;
    });
  }

  /** Drops the task's entry and closes its FIFOs (its exit records stay). */
  #forgetTask(e: TaskEntry): void {
    const key = taskKey(e.shim.namespace, e.shim.id);
    if (this.#tasks.get(key) === e) this.#tasks.delete(key);
    for (const x of e.execs.values()) closeStdio(x.stdio);
    closeStdio(e.stdio);
  }

  /** Reload found a task alive: reopen its stdio FIFOs, re-arm Wait. Execs are not reloaded. */
  async #adopt(t: ShimTask, taskPid: number): Promise<void> {
    const ioDir = bundleFile(t.bundle, 'io');
    const io = listSync(ioDir);
    const stdio = await reopenStdio(ioDir, '', this.#log, io);
    for (const execId of await execIdsIn(ioDir, io)) await removeStdio(ioDir, execId);
    const entry: TaskEntry = { shim: t, pid: taskPid, stdio, execs: new Map() };
    this.#tasks.set(taskKey(t.namespace, t.id), entry);
    this.#adopted?.set(taskKey(t.namespace, t.id), this.#handle(entry));
    this.#armWait(entry, '');
  }

  /**
   * The task's shim is gone: its exit (and 255 for each exec) is reported, the entry dropped.
   * Resolves once every exit was handled; then the exits are forgotten.
   */
  #died(namespace: string, id: string, exit: ExitInfo): Promise<void> {
    const e = this.#tasks.get(taskKey(namespace, id));
    const now = new Date();
    const exits: TaskExit[] = [{ namespace, containerId: id, id, ...exit, pid: exit.pid || (e?.pid ?? 0) }];
    for (const [execId, x] of e?.execs ?? []) exits.push({ namespace, containerId: id, id: execId, pid: x.pid, exitStatus: 255, exitedAt: now });
    if (e) this.#forgetTask(e);
    const recorded = exits.map((x) => this.#exits.record(x, e ? 'dead-shim' : 'reload'));
    return Promise.all(recorded.map((r) => r.handled)).then(() => {
      for (const r of recorded) this.#exits.forget(namespace, id, r.exit.id, r.exit);
    });
  }

  /** Closes every shim connection (shims and tasks keep running; reload() finds them again). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#tasks.values()) this.#forgetTask(e);
    this.#tasks.clear();
    await this.#shims.close();
    await this.#events?.close({ timeoutMs: 1_000 });
  }
}
