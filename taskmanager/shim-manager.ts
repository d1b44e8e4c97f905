// The shim manager (containerd's runtime/v2 ShimManager): which shim serves which task, and the
// shim's own life around it: the bundle and its log FIFO, `<shim> start` (or the pod's running
// shim, reused), one connection per shim (shim-pool.ts), Shutdown after the last task, `<shim>
// delete` and cleanup after a dead shim, and reload after a daemon restart. Task and exec calls
// are the task manager's (task-manager.ts), which owns the tasks and hears about them through
// `ShimOwner`: `adopt` for a task found alive on reload, `died` for a task whose shim is gone.
//
// A pod without a pause process has a *pod shim*: started ahead of the pod's first task (in
// parallel with its CNI ADD), held by the pod (its key counts in the connection's task set, so
// the shim outlives its last container until the pod stops), found by the pod's tasks as a
// running pause task's shim is, and found again on reload by its bundle (config.json with the
// pod's annotations and a `pod-shim` marker, no task). docs/taskmanager.md, "Pod shims".
//
// A dead shim's bundle stays until its tasks' exits were handled (the promise `died` returns):
// after `<shim> delete` the bundle is the only place that still knows the task, so a daemon that
// stops before the exit was handled finds it again on reload (docs/taskmanager.md, "Exits").
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { faultPoint, writeFileAtomicSync, type CleanupStack, type KeyedMutex, type Logger, type PhaseClock } from '../common/index.js';
import { GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION } from '../proto/index.js';
import { unmountAll } from '../sys/index.js';
import { bundleFile, createBundle, readBundleFile, removeBundle, type BundlePaths } from './bundle.js';
import { openFifoReader } from './fifo.js';
import { findBundles, findHiddenBundles, readBundleShim } from './reload.js';
import { shimDelete, shimStart, type ShimCommandContext } from './shim-binary.js';
import { ShimPool, removeSocketFile, type ShimConn } from './shim-pool.js';
import { decodeDeleteResponse, encodeAnyBytes, type AnyMessage, type ExitInfo } from './task-client.js';

export const taskKey = (namespace: string, id: string): string => `${namespace}/${id}`;

export interface ShimTimeouts {
  /** `<shim> start` deadline. */
  start: number;
  /** Every task call but Wait. */
  call: number;
  /** Dial deadline for a shim socket (reload fails fast on dead sockets). */
  connect: number;
  /** `<shim> delete` deadline. */
  cleanup: number;
  /** Shutdown deadline. */
  shutdown: number;
}

export interface ShimManagerOptions {
  stateDir: string;
  rootDir: string;
  grpcAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
  timeouts: ShimTimeouts;
  /** The per-task lock, shared with the task manager: a task's create, delete, reload and dead
   *  cleanup never interleave. */
  locks: KeyedMutex;
  log: Logger;
}

/** A task as the shim manager knows it: its bundle, its shim's connection, the shim's log FIFO. */
export interface ShimTask {
  readonly namespace: string;
  readonly id: string;
  readonly bundle: BundlePaths;
  readonly conn: ShimConn;
  readonly logFifo?: net.Socket;
}

/** The task manager's side of the shim manager. */
export interface ShimOwner {
  /** Reload found `t` alive in its shim with `taskPid`: take it over. Runs under the task's lock;
   *  a throw makes reload handle the task as dead. */
  adopt(t: ShimTask, taskPid: number): Promise<void>;
  /** The shim of task `id` is gone and `<shim> delete` reported `exit` (pid 0 when it failed).
   *  Runs under the task's lock; resolves once the exit has been handled. */
  died(namespace: string, id: string, exit: ExitInfo): Promise<void>;
  /** The pod shim of pod `id` died (its pod lost every process it had). */
  podShimDied(namespace: string, id: string): void;
}

export interface LaunchRequest {
  namespace: string;
  id: string;
  /** Absolute shim binary. */
  binary: string;
  spec: unknown;
  options: AnyMessage | undefined;
  clock: PhaseClock;
}

export type ShimReload =
  | { kind: 'reloaded'; namespace: string; id: string }
  | { kind: 'dead'; namespace: string; id: string; exit: ExitInfo }
  | { kind: 'removed'; namespace: string; id: string; reason: string }
  /** A pod shim's bundle: `alive` when its shim answered and serves again. */
  | { kind: 'pod-shim'; namespace: string; id: string; alive: boolean };

/** The marker file of a pod shim's bundle. */
const POD_SHIM_MARKER = 'pod-shim';

export class ShimManager {
  readonly #opts: ShimManagerOptions;
  readonly #log: Logger;
  readonly #pool: ShimPool;
  readonly #tasks = new Map<string, ShimTask>();
  /** Pod shims by the pod's key `<ns>/<sandbox id>`. */
  readonly #podShims = new Map<string, ShimTask>();
  readonly #owner: ShimOwner;

  constructor(opts: ShimManagerOptions, owner: ShimOwner) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#owner = owner;
    this.#pool = new ShimPool({
      callTimeoutMs: opts.timeouts.call, connectTimeoutMs: opts.timeouts.connect, log: this.#log,
      onDead: (conn, cause) => {
        this.#cleanupDeadShim(conn, cause).catch((err: unknown) => this.#log.error({ err, address: conn.address }, 'dead shim cleanup failed'));
      },
    });
  }

  #context(binary: string, b: BundlePaths): ShimCommandContext {
    return {
      binary, namespace: b.namespace, id: b.id, bundle: b.path, grpcAddress: this.#opts.grpcAddress,
      ttrpcAddress: this.#opts.ttrpcAddress, publishBinary: this.#opts.publishBinary,
    };
  }

  /** Opens the bundle's log FIFO and copies what the shim writes there into the daemon's log. */
  #openShimLog(b: BundlePaths): net.Socket {
    const s = openFifoReader(bundleFile(b, 'log'));
    const log = this.#log.child({ shim: `${b.namespace}/${b.id}` });
    s.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line.trim() !== '') log.info({ shimLog: line }, 'shim log');
    });
    s.on('error', (err) => log.warn({ err }, 'shim log FIFO error'));
    return s;
  }

  /**
   * The bundle, its log FIFO and a connection to the shim that is to serve the task: the pod's
   * running shim when there is one, else the one `<shim> start` names. Undo steps go on `undo`;
   * the task is not bound yet (`bind` after Create).
   */
  async launch(req: LaunchRequest, undo: CleanupStack, b: BundlePaths): Promise<ShimTask> {
    const clock = req.clock;
    let t = performance.now();
    await createBundle(b, req.spec, this.#log);
    undo.push(`remove bundle ${b.path}`, () => removeBundle(b, this.#log));
    // The real shim dies at once if the log FIFO has no reader: open it BEFORE start.
    const logFifo = this.#openShimLog(b);
    undo.push('close shim log', () => logFifo.destroy());
    const podShim = this.#podShim(req);
    faultPoint('task:bundle-created');
    // The marker before `<shim> start` (containerd writes it after): a daemon killed while the
    // shim starts leaves a bundle that reload knows a shim may serve, and shuts that shim down
    // when it serves nothing (docs/crash-safety.md).
    writeFileSync(bundleFile(b, 'shim-binary-path'), req.binary, { mode: 0o600 });
    clock.record('bundle', t, (t = performance.now()));
    let address: string;
    if (podShim) {
      // The pod's shim serves already: no `<shim> start` (containerd 1.7 reuses a sandbox's shim
      // the same way). The bundle gets the `address` file the shim would have written.
      address = podShim.address;
      writeFileAtomicSync(bundleFile(b, 'address'), address, { tmp: bundleFile(b, '.address') });
    } else {
      address = await shimStart(this.#context(req.binary, b), req.options ? encodeAnyBytes(req.options) : undefined, this.#opts.timeouts.start);
    }
    faultPoint('task:shim-started');
    clock.record(podShim ? 'shim reuse' : 'shim start', t, (t = performance.now()));
    const conn = await this.#pool.acquire(address, req.namespace, req.binary);
    clock.record('shim connect', t, performance.now());
    faultPoint('task:shim-connected');
    undo.push(`release shim ${address}`, async () => {
      if (conn.tasks.size === 0) await this.#pool.shutdown(conn, req.id, this.#opts.timeouts.shutdown);
    });
    return { namespace: req.namespace, id: req.id, bundle: b, conn, logFifo };
  }

  /**
   * The live shim of the task's pod, when the task names a pod (io.kubernetes.cri.sandbox-id,
   * no io.containerd.runc.v2.group of its own) whose sandbox task runs in a shim of the same
   * binary in the same namespace; undefined means `<shim> start` decides.
   */
  #podShim(req: LaunchRequest): ShimConn | undefined {
    const annotations = (req.spec as { annotations?: Record<string, unknown> }).annotations;
    if (!annotations || typeof annotations !== 'object' || annotations[GROUP_ANNOTATION] !== undefined) return undefined;
    const sandboxId = annotations[SANDBOX_ID_ANNOTATION];
    if (typeof sandboxId !== 'string' || sandboxId === '' || sandboxId === req.id) return undefined;
    const key = taskKey(req.namespace, sandboxId);
    const conn = (this.#tasks.get(key) ?? this.#podShims.get(key))?.conn;
    if (!conn || conn.binary !== req.binary || !conn.usable) return undefined;
    return conn;
  }

  /**
   * Starts the pod shim of a pod without a pause process (`req.id` is the pod's id, `req.spec`
   * carries its annotations, no process): `<shim> start` in a bundle of its own marked
   * `pod-shim`, connected, held by the pod until stopPodShim. Caller holds the pod's task lock.
   */
  async startPodShim(req: LaunchRequest, b: BundlePaths, undo: CleanupStack): Promise<number> {
    const key = taskKey(req.namespace, req.id);
    if (this.#podShims.has(key) || this.#tasks.has(key)) throw new Error(`pod ${key} has a shim already`);
    const t = await this.launch(req, undo, b);
    writeFileSync(bundleFile(b, POD_SHIM_MARKER), '');
    await this.connected(t.conn, req.id);
    this.#holdPodShim(t);
    return t.conn.shimPid ?? 0;
  }

  #holdPodShim(t: ShimTask): void {
    const key = taskKey(t.namespace, t.id);
    this.#podShims.set(key, t);
    t.conn.tasks.add(key);
  }

  /** The pid of pod `id`'s pod shim; undefined when it has none (or it is gone). */
  podShimPid(namespace: string, id: string): number | undefined {
    const t = this.#podShims.get(taskKey(namespace, id));
    return t?.conn.usable ? t.conn.shimPid : undefined;
  }

  /**
   * The pod lets go of its shim: shut down now when it serves no task, else when its last task
   * is deleted; the pod shim's bundle is removed (also one left by a reload that found it dead).
   */
  async stopPodShim(namespace: string, id: string, b: BundlePaths): Promise<void> {
    const key = taskKey(namespace, id);
    const t = this.#podShims.get(key);
    if (t) {
      this.#podShims.delete(key);
      t.conn.tasks.delete(key);
      t.logFifo?.destroy();
      if (t.conn.tasks.size === 0 && t.conn.usable) await this.#pool.shutdown(t.conn, id, this.#opts.timeouts.shutdown);
    }
    if (t || (await readBundleFile(b, POD_SHIM_MARKER)) !== undefined) await removeBundle(b);
  }

  /** Learns the shim's pid with Connect, once per connection. */
  async connected(conn: ShimConn, taskId: string): Promise<void> {
    if (conn.state.kind === 'connected') conn.ready((await conn.api.connect(taskId)).shimPid);
  }

  /** The task is served by its shim from now on (pod-shim reuse and dead-shim cleanup see it). */
  bind(t: ShimTask): void {
    const key = taskKey(t.namespace, t.id);
    this.#tasks.set(key, t);
    t.conn.tasks.add(key);
  }

  #unbind(t: ShimTask): void {
    const key = taskKey(t.namespace, t.id);
    if (this.#tasks.get(key) === t) this.#tasks.delete(key);
    t.conn.tasks.delete(key);
    t.logFifo?.destroy();
  }

  /** A deleted task: unbound, its shim shut down when it was the last task, its bundle removed. */
  async remove(t: ShimTask): Promise<void> {
    this.#unbind(t);
    if (t.conn.tasks.size === 0) await this.#pool.shutdown(t.conn, t.id, this.#opts.timeouts.shutdown);
    await removeBundle(t.bundle, this.#log);
  }

  /** `<shim> delete` for a task whose shim is gone: its DeleteResponse, or 255/now when it fails. */
  async #shimDelete(binary: string, b: BundlePaths): Promise<ExitInfo> {
    try {
      const out = await shimDelete(this.#context(binary, b), this.#opts.timeouts.cleanup);
      if (out.stderr.trim() !== '') this.#log.warn({ task: b.id, stderr: out.stderr.trim() }, 'shim delete: cleanup warnings');
      return decodeDeleteResponse(out.stdout);
    } catch (err) {
      this.#log.warn({ err, task: b.id }, 'shim delete failed; reporting exit 255');
      return { pid: 0, exitStatus: 255, exitedAt: new Date() };
    }
  }

  /** Tells the owner, then removes the bundle once the exit was handled. */
  #died(b: BundlePaths, exit: ExitInfo): void {
    this.#owner.died(b.namespace, b.id, exit)
      .then(() => removeBundle(b, this.#log))
      .catch((err: unknown) => this.#log.warn({ err, bundle: b.path }, 'cannot remove bundle of a dead shim'));
  }

  /**
   * A shim's connection closed while we did not close it: remove its socket, run `<shim> delete`
   * for each task, tell the owner, remove bundles once their exits were handled.
   */
  async #cleanupDeadShim(conn: ShimConn, cause?: Error): Promise<void> {
    this.#log.warn({ err: cause, address: conn.address, tasks: [...conn.tasks] }, 'shim connection closed: cleaning up after dead shim');
    // The socket first: nothing serves it any more, and a start for the same pod made while the
    // tasks are cleaned up binds a new one there that must not be removed afterwards.
    await removeSocketFile(conn.address, this.#log);
    for (const key of conn.tasks) {
      const pod = this.#podShims.get(key);
      if (pod?.conn !== conn) continue;
      this.#podShims.delete(key);
      pod.logFifo?.destroy();
      await removeBundle(pod.bundle).catch((err: unknown) => this.#log.warn({ err, bundle: pod.bundle.path }, 'cannot remove a dead pod shim bundle'));
      this.#owner.podShimDied(pod.namespace, pod.id);
    }
    const tasks = [...conn.tasks].map((k) => this.#tasks.get(k)).filter((t): t is ShimTask => t !== undefined);
    await Promise.all(tasks.map((t) => this.#opts.locks.run(taskKey(t.namespace, t.id), async () => {
      if (this.#tasks.get(taskKey(t.namespace, t.id)) !== t) return; // deleted meanwhile
      const exit = await this.#shimDelete(conn.binary, t.bundle);
      this.#unbind(t);
      this.#died(t.bundle, exit);
    })));
  }

  /**
   * Reconnects every shim found in the state dir, all bundles in parallel, each under its task's
   * lock: dial (short deadline), Connect, then the owner adopts the task. A shim that is gone or
   * does not answer gets `<shim> delete` and its task is reported dead.
   */
  async reload(): Promise<ShimReload[]> {
    const bundles = await this.#bundlesAfterCutShortRemovals();
    const outcomes = await Promise.all(bundles.map((b) => this.#opts.locks.run(taskKey(b.namespace, b.id), () => this.#reloadOne(b))));
    // A shim that serves none of the tasks found (started for a task whose Create never ran, or
    // whose bundle was removed) would run forever: shut down (docs/crash-safety.md).
    // A pod shim held by its pod (pods without a pause process) serves no task until the pod's
    // first container: kept.
    const held = new Set([...this.#podShims.values()].map((t) => t.conn));
    await Promise.all(this.#pool.all().filter((c) => c.tasks.size === 0 && !held.has(c)).map(async (conn) => {
      this.#log.warn({ address: conn.address }, 'reload: shim serves no task; shutting it down');
      await this.#pool.shutdown(conn, '', this.#opts.timeouts.shutdown);
    }));
    return outcomes;
  }

  /**
   * The bundles to reload, once what a bundle removal cut short by a crash left is gone: `.<id>`
   * dirs (renamed, not yet removed) and work dirs whose bundle was removed (containerd's
   * cleanupWorkDirs does the latter too).
   */
  async #bundlesAfterCutShortRemovals(): Promise<BundlePaths[]> {
    for (const hidden of await findHiddenBundles(this.#opts.stateDir)) {
      this.#log.warn({ dir: hidden }, 'reload: removing a bundle whose removal was cut short');
      unmountAll(path.join(hidden, 'rootfs'));
      await rm(hidden, { recursive: true, force: true });
    }
    const bundles = await findBundles(this.#opts.stateDir, this.#opts.rootDir);
    const kept = new Set(bundles.map((x) => x.workDir));
    for (const work of await findBundles(this.#opts.rootDir, this.#opts.rootDir)) {
      if (kept.has(work.workDir)) continue;
      this.#log.warn({ dir: work.workDir }, 'reload: removing a work dir without a bundle');
      await rm(work.workDir, { recursive: true, force: true });
    }
    return bundles;
  }

  async #reloadOne(b: BundlePaths): Promise<ShimReload> {
    const { namespace, id } = b;
    const log = this.#log.child({ task: `${namespace}/${id}` });
    if (this.#tasks.has(taskKey(namespace, id))) return { kind: 'reloaded', namespace, id };
    const removed = async (reason: string): Promise<ShimReload> => {
      log.warn({ reason }, 'reload: removing bundle');
      await removeBundle(b, this.#log);
      return { kind: 'removed', namespace, id, reason };
    };
    const found = readBundleShim(b, [POD_SHIM_MARKER]);
    if (found.kind === 'leftover') return removed(found.reason);
    if (found.marked.has(POD_SHIM_MARKER)) return this.#reloadPodShim(b, found.binary, found.address, found.hasLog);
    const { binary, address } = found;
    let logFifo: net.Socket | undefined;
    let conn: ShimConn | undefined;
    let bound: ShimTask | undefined;
    try {
      if (found.hasLog) logFifo = this.#openShimLog(b);
      if (!address) throw new Error('no address file');
      conn = await this.#pool.acquire(address, namespace, binary);
      const c = await conn.api.connect(id, 5_000);
      conn.ready(c.shimPid);
      if (c.taskPid === 0) {
        logFifo?.destroy();
        // A Create the crash cut short: the shim gave up on it when the connection closed, but
        // runc may have made the container's state dir and cgroup; `<shim> delete` (runc delete
        // --force) removes them, or the task's next create finds "container with given ID
        // already exists" (docs/crash-safety.md).
        await this.#shimDelete(binary, b);
        return await removed('the shim does not know this task');
      }
      bound = { namespace, id, bundle: b, conn, ...(logFifo ? { logFifo } : {}) };
      this.bind(bound);
      // A shim that died between Connect and now was cleaned up before this task was bound.
      if (!conn.usable) throw new Error('shim connection closed during reload');
      await this.#owner.adopt(bound, c.taskPid);
      log.info({ address, pid: c.taskPid, shimPid: c.shimPid }, 'reload: task reconnected');
      return { kind: 'reloaded', namespace, id };
    } catch (err) {
      log.warn({ err, address }, 'reload: shim is gone; cleaning up');
      if (bound) this.#unbind(bound);
      logFifo?.destroy();
      if (conn && conn.tasks.size === 0) await this.#pool.release(conn);
      const exit = await this.#shimDelete(binary, b);
      this.#died(b, exit);
      if (address && !conn) await removeSocketFile(address, this.#log);
      return { kind: 'dead', namespace, id, exit };
    }
  }

  /** A pod shim's bundle after a restart: held again when its shim answers, else removed. */
  async #reloadPodShim(b: BundlePaths, binary: string, address: string | undefined, hasLog: boolean): Promise<ShimReload> {
    const { namespace, id } = b;
    const log = this.#log.child({ podShim: `${namespace}/${id}` });
    let logFifo: net.Socket | undefined;
    try {
      if (!address) throw new Error('no address file');
      if (hasLog) logFifo = this.#openShimLog(b);
      const conn = await this.#pool.acquire(address, namespace, binary);
      await this.connected(conn, id);
      if (!conn.usable) throw new Error('shim connection closed during reload');
      this.#holdPodShim({ namespace, id, bundle: b, conn, ...(logFifo ? { logFifo } : {}) });
      log.info({ address, shimPid: conn.shimPid }, 'reload: pod shim reconnected');
      return { kind: 'pod-shim', namespace, id, alive: true };
    } catch (err) {
      log.warn({ err, address }, 'reload: pod shim is gone; removing its bundle');
      logFifo?.destroy();
      await removeBundle(b);
      return { kind: 'pod-shim', namespace, id, alive: false };
    }
  }

  /** Closes every shim connection (shims and tasks keep running; reload() finds them again). */
  async close(): Promise<void> {
    for (const t of [...this.#tasks.values(), ...this.#podShims.values()]) t.logFifo?.destroy();
    this.#tasks.clear();
    this.#podShims.clear();
    await this.#pool.closeAll();
  }
}
