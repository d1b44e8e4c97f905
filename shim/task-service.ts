// The containerd.task.v2.Task service (docs/shim.md "Task service"): containers and their processes, driven
// through runc, with the runc shim's errors and events.
//
// Locks: `lifecycle` (per container id) serialises Create/Delete/Exec/Pause/Resume of one
// container; `procLock` (per process) makes Start and the exit handler of one process mutually
// exclusive, so a process's start event is always queued before its exit event.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AlreadyExistsError, BerthError, CleanupStack, FailedPreconditionError, InvalidArgumentError, KeyedMutex, NotFoundError,
  UnimplementedError, isKind, validateIdentifier, type Logger,
} from '../common/index.js';
import {
  RUNC_OPTIONS_TYPE_URL, RUNC_PROCESS_DETAILS_TYPE_URL, containerd, packMessage, toTimestamp, unpackJson,
  type ServiceHandlers, type TaskServiceMethods,
} from '../proto/index.js';
import { cgroupOfPid, mountAll, unmountAll, type OomWatcher, type Reaper } from '../sys/index.js';
import { Container, Proc, hasOwnPidNamespace } from './container.js';
import {
  exitOf, statusOf, toDeleted, toPaused, toResumed, toRunning, toStopped, type Exited,
} from './process-state.js';
import type { Publisher } from './publisher.js';
import { DEFAULT_RUNC_ROOT, Runc } from './runc.js';
import { ProcessIO, type StdioPaths } from './stdio.js';
import type { StatsReader } from './stats.js';

const EXIT_DRAIN_MS = 10_000;

type RuncOptionsProps = containerd.runc.v1.Options.$Properties;

export interface TaskServiceDeps {
  namespace: string;
  reaper: Reaper;
  publisher: Publisher;
  log: Logger;
  stats?: StatsReader;
  /** OOM notifications for started containers (TaskOOM). */
  oom?: OomWatcher;
  /** Called after a Shutdown reply when no container is left. */
  onShutdown: () => void;
  /** Called whenever the set of containers changes (the pod guard keeps its kill list). */
  onContainersChanged?: (containers: readonly Container[]) => void;
}

export class TaskService {
  private readonly containers = new Map<string, Container>();
  private readonly lifecycle = new KeyedMutex();
  private readonly procLock = new KeyedMutex();
  /** Creates in flight: a Shutdown racing a grouped Create must not end the shim. */
  private creating = 0;
  /** memory cgroup path -> container id, for OOM events. */
  private readonly oomCgroups = new Map<string, string>();

  constructor(private readonly deps: TaskServiceDeps) {
    deps.oom?.on('oom', (cgroup) => {
      const id = this.oomCgroups.get(cgroup);
      if (id !== undefined) this.deps.publisher.publish({ topic: '/tasks/oom', event: { containerId: id } });
    });
  }

  private watchOom(c: Container): void {
    if (!this.deps.oom) return;
    try {
      const cgroup = cgroupOfPid(c.init.pid, 'memory');
      if ([...this.oomCgroups.values()].includes(c.id) || this.oomCgroups.has(cgroup)) return;
      this.deps.oom.add(cgroup);
      this.oomCgroups.set(cgroup, c.id);
    } catch (err) {
      this.deps.log.warn({ err, id: c.id }, 'cannot watch the container for OOM');
    }
  }

  private unwatchOom(c: Container): void {
    for (const [cgroup, id] of this.oomCgroups) {
      if (id !== c.id) continue;
      this.oomCgroups.delete(cgroup);
      try {
        this.deps.oom?.remove(cgroup);
      } catch {
        // already gone with its cgroup
      }
    }
  }

  get size(): number {
    return this.containers.size;
  }

  list(): readonly Container[] {
    return [...this.containers.values()];
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError('container not created: not found');
    return c;
  }

  private changed(): void {
    this.deps.onContainersChanged?.(this.list());
  }

  // ---- Create -----------------------------------------------------------------------------------

  create(req: containerd.task.v2.CreateTaskRequest.$Properties): Promise<{ pid: number }> {
    const id = validateIdentifier(req.id ?? '', 'container id');
    this.creating++;
    return this.lifecycle.run(id, () => this.createLocked(id, req)).finally(() => {
      this.creating--;
    });
  }

  private async createLocked(id: string, req: containerd.task.v2.CreateTaskRequest.$Properties): Promise<{ pid: number }> {
    if (this.containers.has(id)) throw new AlreadyExistsError(`container ${id}: already exists`);
    if (req.checkpoint) throw new UnimplementedError('checkpoint restore is not supported by containerd-shim-berth-v2');
    const bundle = req.bundle ?? '';
    if (!path.isAbsolute(bundle)) throw new InvalidArgumentError(`bundle ${JSON.stringify(bundle)} is not an absolute path`);
    const opts = runcOptions(req.options);
    const spec = readSpec(bundle);
    const undo = new CleanupStack();
    const log = this.deps.log.child({ id });
    try {
      writeFileSync(path.join(bundle, 'options.json'), JSON.stringify(optionsJson(opts)), { mode: 0o600 });
      writeFileSync(path.join(bundle, 'runtime'), opts.binaryName ?? '', { mode: 0o600 });
      const mounts = req.rootfs ?? [];
      const rootfs = path.join(bundle, 'rootfs');
      if (mounts.length > 0) {
        mkdirSync(rootfs, { recursive: true, mode: 0o711 });
        mountAll(mounts.map((m) => ({ type: m.type ?? '', source: m.source ?? '', options: m.options ?? [] })), rootfs);
        undo.push(`unmount ${rootfs}`, () => unmountAll(rootfs));
      }
      const runc = this.makeRunc(opts, bundle);
      const stdio = stdioOf(req);
      const init = new Proc(id, '', stdio, 0);
      const c = new Container(id, bundle, runc, init, hasOwnPidNamespace(spec), mounts.length > 0);
      const pidFile = path.join(bundle, 'init.pid');
      const pid = await this.spawnProcess(init, undo, (io, cs) => runc.create(id, bundle, pidFile, cs, io.runcStdio), pidFile, (p) => {
        undo.push(`runc delete ${id}`, () => runc.delete(id, true));
        init.state = { kind: 'created', pid: p };
        this.watchExit(c, init, p);
      });
      this.containers.set(id, c);
      undo.release();
      this.changed();
      this.deps.publisher.publish({
        topic: '/tasks/create',
        event: {
          containerId: id, bundle, rootfs: mounts, checkpoint: req.checkpoint ?? '', pid,
          io: { stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr, terminal: stdio.terminal },
        },
      });
      log.info({ pid }, 'container created');
      return { pid };
    } catch (err) {
      await undo.unwind(log);
      throw err;
    }
  }

  private makeRunc(opts: RuncOptionsProps, bundle: string): Runc {
    const { reaper } = this.deps;
    return new Runc(
      {
        binary: opts.binaryName || 'runc',
        root: path.join(opts.root || DEFAULT_RUNC_ROOT, this.deps.namespace),
        systemdCgroup: opts.systemdCgroup ?? false,
        noPivotRoot: opts.noPivotRoot ?? false,
        noNewKeyring: opts.noNewKeyring ?? false,
        logPath: path.join(bundle, 'log.json'),
      },
      (command, args, o) => reaper.spawn(command, args, { ...o, cwd: '/' }),
      this.deps.log,
    );
  }

  /**
   * Opens the stdio, runs `runc create`/`runc exec` (which writes `pidFile`) with the orphan sweep
   * paused, hands the new pid to `onPid` (which must watch it at once: a process that already
   * died is still a zombie then), and wires the pty. The io is kept on `proc`; `undo` closes it.
   */
  private async spawnProcess(
    proc: Proc,
    undo: CleanupStack,
    run: (io: ProcessIO, consoleSocket: string | undefined) => Promise<string>,
    pidFile: string,
    onPid: (pid: number) => void,
  ): Promise<number> {
    const ptyDir = proc.stdio.terminal ? mkdtempSync(path.join(os.tmpdir(), 'berth-pty-')) : undefined;
    try {
      const io = await ProcessIO.prepare(proc.stdio, path.join(ptyDir ?? os.tmpdir(), 'pty.sock'), this.deps.log);
      undo.push(`close stdio of ${proc.id}`, () => io.close());
      proc.io = io;
      const expectation = this.deps.reaper.expect();
      let pid: number;
      try {
        await run(io, io.consoleSocketPath);
        pid = readPid(pidFile);
        onPid(pid);
      } finally {
        expectation.close();
      }
      await io.started();
      return pid;
    } finally {
      if (ptyDir) rmSync(ptyDir, { recursive: true, force: true });
    }
  }

  private watchExit(c: Container, p: Proc, pid: number): void {
    this.deps.reaper.watch(pid).then(
      (e) => this.onExit(c, p, { exitStatus: e.status, exitedAt: e.exitedAt }),
      (err: unknown) => {
        this.deps.log.error({ err, pid }, 'cannot watch process: reporting exit 255');
        return this.onExit(c, p, { exitStatus: 255, exitedAt: new Date() });
      },
    ).catch((err: unknown) => this.deps.log.error({ err, pid }, 'exit handling failed'));
  }

  private async onExit(c: Container, p: Proc, exit: Exited): Promise<void> {
    if (p.execId === '') {
      // An OOM kill is reported before the exit it caused (CRI keeps the first reason it sees).
      this.deps.oom?.check();
      // Processes of a container without its own pid namespace outlive its init: kill them.
      if (!c.ownPidNamespace) await c.runc.kill(c.id, 9, true).catch(() => undefined);
      // An init's exit is published only after the exits of its exec processes.
      const pending = [...c.execs.values()].filter((e) => e.state.kind === 'running' || e.state.kind === 'paused').map((e) => e.exited);
      if (pending.length > 0) {
        await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, EXIT_DRAIN_MS).unref())]);
      }
    }
    await this.procLock.run(procKey(c.id, p.execId), () => {
      p.state = toStopped(p.state, exit);
      p.io?.closeStdin();
      p.markExited(exit);
      // A never-started init killed by Delete, or one whose Create failed, has no exit event.
      if (p.execId === '' && (c.deleting || this.containers.get(c.id) !== c)) return;
      this.deps.publisher.publish({
        topic: '/tasks/exit',
        event: {
          containerId: c.id, id: p.execId || c.id, pid: p.pid, exitStatus: exit.exitStatus, exitedAt: toTimestamp(exit.exitedAt),
        },
      });
    });
  }

  // ---- Start / Exec ----------------------------------------------------------------------------

  start(req: containerd.task.v2.StartRequest.$Properties): Promise<{ pid: number }> {
    const c = this.get(req.id ?? '');
    const execId = req.execId ?? '';
    const p = c.process(execId);
    return this.procLock.run(procKey(c.id, execId), async () => {
      toRunning(p.state, p.pid, new Date()); // refuses anything but created, before any work
      if (execId === '') {
        await c.runc.start(c.id);
        p.state = toRunning(p.state, p.pid, new Date());
        this.watchOom(c);
        this.deps.publisher.publish({ topic: '/tasks/start', event: { containerId: c.id, pid: p.pid } });
        return { pid: p.pid };
      }
      const init = c.init.state.kind;
      if (init !== 'running' && init !== 'paused') throw new BerthError('unknown', `cannot start an exec process in a ${init} container`);
      const spec = (p as Proc & { spec: unknown }).spec;
      const specFile = path.join(c.bundle, `.${execId}.process.json`);
      const pidFile = path.join(c.bundle, `${execId}.pid`);
      writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
      const undo = new CleanupStack();
      try {
        const pid = await this.spawnProcess(p, undo, (io, cs) => c.runc.exec(c.id, specFile, pidFile, cs, io.runcStdio), pidFile, (xp) => {
          p.state = toRunning(p.state, xp, new Date());
          this.watchExit(c, p, xp);
        });
        undo.release();
        this.deps.publisher.publish({ topic: '/tasks/exec-started', event: { containerId: c.id, execId, pid } });
        return { pid };
      } catch (err) {
        await undo.unwind(this.deps.log);
        throw err;
      } finally {
        rmSync(specFile, { force: true });
      }
    });
  }

  exec(req: containerd.task.v2.ExecProcessRequest.$Properties): Promise<Record<string, never>> {
    const c = this.get(req.id ?? '');
    const execId = validateIdentifier(req.execId ?? '', 'exec id');
    return this.lifecycle.run(c.id, () => {
      if (c.execs.has(execId)) throw new AlreadyExistsError(`id ${execId}: already exists`);
      const kind = c.init.state.kind;
      if (kind === 'stopped' || kind === 'deleted') throw new BerthError('unknown', `cannot exec in a ${kind} state`);
      const spec = unpackJson(req.spec);
      const p = Object.assign(new Proc(execId, execId, stdioOf(req), 0), { spec });
      c.execs.set(execId, p);
      this.deps.publisher.publish({ topic: '/tasks/exec-added', event: { containerId: c.id, execId } });
      return {};
    });
  }

  // ---- Delete ----------------------------------------------------------------------------------

  delete(req: containerd.task.v2.DeleteRequest.$Properties): Promise<containerd.task.v2.DeleteResponse.$Properties> {
    const c = this.get(req.id ?? '');
    const execId = req.execId ?? '';
    return this.lifecycle.run(c.id, async () => {
      if (execId !== '') {
        const p = c.process(execId);
        p.state = toDeleted(p.state, new Date());
        c.execs.delete(execId);
        await p.io?.close();
        return replyOf(p);
      }
      const p = c.init;
      if (p.state.kind === 'created') {
        // Never started: runc kills it; its exit is not published (only TaskDelete is).
        c.deleting = true;
        await c.runc.delete(c.id, true).catch((err: unknown) => this.tolerateMissing(err));
        const exit = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000).unref())]);
        p.state = toStopped(p.state, exit ?? { exitStatus: 255, exitedAt: new Date() });
      } else {
        toDeleted(p.state, new Date()); // refuses running/paused before touching anything
        await c.runc.delete(c.id, true).catch((err: unknown) => this.tolerateMissing(err));
      }
      p.state = toDeleted(p.state, new Date());
      await Promise.all([...c.execs.values(), p].map((e) => e.io?.close()));
      this.unwatchOom(c);
      if (c.rootfsMounted) unmountAll(path.join(c.bundle, 'rootfs'));
      this.containers.delete(c.id);
      this.changed();
      const reply = replyOf(p);
      this.deps.publisher.publish({
        topic: '/tasks/delete',
        event: { containerId: c.id, pid: reply.pid, exitStatus: reply.exitStatus, exitedAt: reply.exitedAt },
      });
      return reply;
    });
  }

  private tolerateMissing(err: unknown): void {
    if (!isKind(err, 'not-found')) throw err;
  }

  // ---- Signals, state, waiting -----------------------------------------------------------------

  async kill(req: containerd.task.v2.KillRequest.$Properties): Promise<Record<string, never>> {
    const c = this.get(req.id ?? '');
    const p = c.process(req.execId ?? '');
    const finished = (): NotFoundError => new NotFoundError('process already finished: not found');
    if (p.state.kind === 'stopped' || p.state.kind === 'deleted') throw finished();
    const signal = req.signal ?? 0;
    if (p.execId === '') {
      try {
        await c.runc.kill(c.id, signal, req.all ?? false);
      } catch (err) {
        if (exitOf(p.state) || isKind(err, 'not-found') || /not running|already/.test((err as Error).message)) throw finished();
        throw err;
      }
      return {};
    }
    if (p.pid === 0) throw new FailedPreconditionError(`process ${p.execId} has not been started`);
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw finished();
      throw err;
    }
    return {};
  }

  state(req: containerd.task.v2.StateRequest.$Properties): containerd.task.v2.StateResponse.$Properties {
    const c = this.get(req.id ?? '');
    const p = c.process(req.execId ?? '');
    const exit = exitOf(p.state);
    return {
      id: p.execId || c.id,
      bundle: c.bundle,
      pid: p.pid,
      status: statusOf(p.state),
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exitStatus: exit?.exitStatus ?? 0,
      exitedAt: toTimestamp(exit?.exitedAt),
    };
  }

  async wait(req: containerd.task.v2.WaitRequest.$Properties): Promise<containerd.task.v2.WaitResponse.$Properties> {
    const c = this.get(req.id ?? '');
    const p = c.process(req.execId ?? '');
    const exit = await p.exited;
    return { exitStatus: exit.exitStatus, exitedAt: toTimestamp(exit.exitedAt) };
  }

  async pids(req: containerd.task.v2.PidsRequest.$Properties): Promise<containerd.task.v2.PidsResponse.$Properties> {
    const c = this.get(req.id ?? '');
    const pids = await c.runc.ps(c.id);
    const execOf = new Map([...c.execs.values()].filter((e) => e.pid > 0).map((e) => [e.pid, e.execId]));
    return {
      processes: pids.map((pid) => {
        const execId = execOf.get(pid);
        return execId === undefined
          ? { pid }
          : { pid, info: packMessage(RUNC_PROCESS_DETAILS_TYPE_URL, containerd.runc.v1.ProcessDetails, { execId }) };
      }),
    };
  }

  pause(req: containerd.task.v2.PauseRequest.$Properties): Promise<Record<string, never>> {
    const c = this.get(req.id ?? '');
    return this.lifecycle.run(c.id, async () => {
      toPaused(c.init.state);
      await c.runc.pause(c.id);
      c.init.state = toPaused(c.init.state);
      this.deps.publisher.publish({ topic: '/tasks/paused', event: { containerId: c.id } });
      return {};
    });
  }

  resume(req: containerd.task.v2.ResumeRequest.$Properties): Promise<Record<string, never>> {
    const c = this.get(req.id ?? '');
    return this.lifecycle.run(c.id, async () => {
      toResumed(c.init.state);
      await c.runc.resume(c.id);
      c.init.state = toResumed(c.init.state);
      this.deps.publisher.publish({ topic: '/tasks/resumed', event: { containerId: c.id } });
      return {};
    });
  }

  async update(req: containerd.task.v2.UpdateTaskRequest.$Properties): Promise<Record<string, never>> {
    const c = this.get(req.id ?? '');
    const resources = unpackJson(req.resources);
    await c.runc.update(c.id, JSON.stringify(resources));
    return {};
  }

  resizePty(req: containerd.task.v2.ResizePtyRequest.$Properties): Record<string, never> {
    const c = this.get(req.id ?? '');
    c.process(req.execId ?? '').io?.resize(req.width ?? 0, req.height ?? 0);
    return {};
  }

  closeIO(req: containerd.task.v2.CloseIORequest.$Properties): Record<string, never> {
    const c = this.get(req.id ?? '');
    const p = c.process(req.execId ?? '');
    if (req.stdin) p.io?.closeStdin();
    return {};
  }

  async stats(req: containerd.task.v2.StatsRequest.$Properties): Promise<containerd.task.v2.StatsResponse.$Properties> {
    const c = this.get(req.id ?? '');
    if (!this.deps.stats) throw new UnimplementedError('stats are not available in this shim');
    return { stats: await this.deps.stats(c) };
  }

  connect(req: containerd.task.v2.ConnectRequest.$Properties): containerd.task.v2.ConnectResponse.$Properties {
    return { shimPid: process.pid, taskPid: this.containers.get(req.id ?? '')?.init.pid ?? 0 };
  }

  shutdown(): Record<string, never> {
    // A grouped shim lives until the last container of its pod is deleted.
    if (this.containers.size === 0 && this.creating === 0) setImmediate(this.deps.onShutdown);
    return {};
  }

  /** The ttrpc handler table. */
  handlers(): ServiceHandlers<TaskServiceMethods> {
    return {
      Create: (r) => this.create(r),
      Start: (r) => this.start(r),
      Delete: (r) => this.delete(r),
      State: (r) => this.state(r),
      Pids: (r) => this.pids(r),
      Pause: (r) => this.pause(r),
      Resume: (r) => this.resume(r),
      Checkpoint: () => {
        throw new UnimplementedError('checkpoint is not supported by containerd-shim-berth-v2');
      },
      Kill: (r) => this.kill(r),
      Exec: (r) => this.exec(r),
      ResizePty: (r) => this.resizePty(r),
      CloseIO: (r) => this.closeIO(r),
      Update: (r) => this.update(r),
      Wait: (r) => this.wait(r),
      Stats: (r) => this.stats(r),
      Connect: (r) => this.connect(r),
      Shutdown: () => this.shutdown(),
    };
  }
}

function procKey(id: string, execId: string): string {
  return `${id}\0${execId}`;
}

function replyOf(p: Proc): containerd.task.v2.DeleteResponse.$Properties {
  const exit = exitOf(p.state);
  return { pid: p.pid, exitStatus: exit?.exitStatus ?? 0, exitedAt: toTimestamp(exit?.exitedAt ?? new Date()) };
}

function stdioOf(req: { stdin?: string | null; stdout?: string | null; stderr?: string | null; terminal?: boolean | null }): StdioPaths {
  return { stdin: req.stdin ?? '', stdout: req.stdout ?? '', stderr: req.stderr ?? '', terminal: req.terminal ?? false };
}

function readPid(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new BerthError('internal', `${file}: no valid pid`);
  return pid;
}

function readSpec(bundle: string): unknown {
  try {
    return JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${bundle}/config.json: ${(err as Error).message}`, { cause: err });
  }
}

/** CreateTaskRequest.options: runc Options when given as such; any other type is ignored. */
function runcOptions(any: { type_url?: string | null; value?: Uint8Array | null } | null | undefined): RuncOptionsProps {
  if (!any?.type_url || any.type_url !== RUNC_OPTIONS_TYPE_URL) return {};
  let opts: RuncOptionsProps;
  try {
    opts = containerd.runc.v1.Options.decode(any.value ?? new Uint8Array(0));
  } catch (err) {
    throw new InvalidArgumentError(`invalid ${RUNC_OPTIONS_TYPE_URL}: ${(err as Error).message}`, { cause: err });
  }
  // Both end up as fields of the pod guard's tab-separated kill list: a tab or a newline would
  // forge entries that make the sentinel kill containers outside this pod.
  for (const [name, value] of [['binary_name', opts.binaryName], ['root', opts.root]] as const) {
    if (value && /[\x00-\x1f\x7f]/.test(value)) throw new InvalidArgumentError(`${RUNC_OPTIONS_TYPE_URL}: ${name} ${JSON.stringify(value)} contains control characters`);
  }
  return opts;
}

/** options.json as the runc shim writes it: snake_case keys, zero values left out. */
function optionsJson(o: RuncOptionsProps): Record<string, unknown> {
  const fields: [string, unknown][] = [
    ['no_pivot_root', o.noPivotRoot], ['no_new_keyring', o.noNewKeyring], ['shim_cgroup', o.shimCgroup],
    ['io_uid', o.ioUid], ['io_gid', o.ioGid], ['binary_name', o.binaryName], ['root', o.root],
    ['criu_path', o.criuPath], ['systemd_cgroup', o.systemdCgroup],
  ];
  return Object.fromEntries(fields.filter(([, v]) => v !== undefined && v !== null && v !== '' && v !== false && v !== 0));
}
