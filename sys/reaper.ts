// A child-subreaper reaper that lives beside libuv's own child handling.
//
// libuv reaps only the pids it spawned (waitpid(<pid>)), so container processes re-parented to
// us stay zombies until we reap them; we must never reap with P_ALL / -1, which would steal
// libuv's children and their `exit` events would never fire (docs/sys.md "Reaping"). So:
//  - watched pids are reaped one by one with waitid(P_PID, pid, WEXITED|WNOHANG) on every
//    SIGCHLD (signals coalesce: every watched pid is tried each time) and on a 1 s safety sweep;
//  - a zombie holds its pid until someone reaps it, so an exit that happens before watch() is
//    called is found by the first waitid inside watch(): nothing is lost, no pid-reuse race;
//  - adopted orphans nobody watches (double-forked daemons inside a container) are reaped by the
//    sweep from /proc/self/task/*/children, skipping pids spawned through child_process (tracked
//    via trackSpawned/spawn) and any zombie not seen on the previous sweep as well, so libuv always
//    gets the first chance at its own children. While an `expect()` is open the orphan sweep
//    pauses, so a container init that dies before its pid file is read stays a zombie for watch().
import { spawn as cpSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { NotFoundError, InvalidArgumentError, silentLogger, type Logger } from '../common/index.js';
import { isErrno, setChildSubreaper, waitid, P_PID, WNOHANG } from './libc.js';
import { PosixChild, posixSpawnChosen, posixSpawnUnusable, posixStdioSupported, type PosixStdio, type ReapedExit } from './posix-child.js';

export interface ExitInfo {
  pid: number;
  /** Exit code, or 128 + signal number when the process was killed by a signal. */
  status: number;
  exitedAt: Date;
  /** Killed by a signal (`status` is then 128 + its number). */
  signaled?: boolean;
}

/** What Reaper.spawn returns: Node's ChildProcess, or the same shape for a posix_spawn child. */
export type SpawnedChild = ChildProcess | PosixChild;

/** Makes this process a child subreaper: orphaned descendants re-parent to it. */
export function becomeSubreaper(): void {
  setChildSubreaper(true);
}

export interface ReaperOptions {
  /** Safety sweep interval (SIGCHLD coalesces). Default 1000 ms; the timer is unref'd. */
  sweepMs?: number;
  /** Also reap adopted orphans nobody watches. Default true. */
  reapOrphans?: boolean;
  /**
   * Make this process a child subreaper before the first spawn() (koffi is loaded then, not at
   * construction: a shim serves before it has a child). Default false.
   */
  subreaper?: boolean;
  logger?: Logger;
}

/** Held open around `runc create` / `runc exec`: the orphan sweep leaves zombies alone meanwhile. */
export interface Expectation {
  close(): void;
}

interface Pending {
  promise: Promise<ExitInfo>;
  resolve: (e: ExitInfo) => void;
  reject: (e: unknown) => void;
}

const RECENT_LIMIT = 256;

export class Reaper {
  private readonly watched = new Map<number, Pending>();
  private readonly spawned = new Set<number>();
  private readonly recent = new Map<number, ExitInfo>(); // orphans reaped by the sweep
  private prevZombies = new Set<number>();
  private expectations = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly onSigchld = (): void => this.reapWatched();
  private readonly reapOrphans: boolean;
  private needSubreaper: boolean;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: ReaperOptions = {}) {
    this.reapOrphans = opts.reapOrphans ?? true;
    this.needSubreaper = opts.subreaper ?? false;
    this.log = opts.logger ?? silentLogger;
    process.on('SIGCHLD', this.onSigchld);
    this.timer = setInterval(() => this.sweep(), opts.sweepMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Resolves when `pid` (our child or an adopted descendant) exits, even if it already exited
   * and is a zombie now. Rejects with NotFoundError when the pid is not our child.
   */
  watch(pid: number): Promise<ExitInfo> {
    if (!Number.isInteger(pid) || pid <= 0) return Promise.reject(new InvalidArgumentError(`invalid pid ${pid}`));
    const existing = this.watched.get(pid);
    if (existing) return existing.promise;
    let resolve!: (e: ExitInfo) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<ExitInfo>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.watched.set(pid, { promise, resolve, reject });
    this.tryReap(pid);
    return promise;
  }

  /** Open around the window between starting a process and calling watch() on its pid. */
  expect(): Expectation {
    this.expectations++;
    let open = true;
    return {
      close: () => {
        if (open) {
          open = false;
          this.expectations--;
        }
      },
    };
  }

  /** Declares a libuv (child_process) child, which the orphan sweep must never reap. */
  trackSpawned(child: ChildProcess): void {
    const pid = child.pid;
    if (pid === undefined) return;
    this.spawned.add(pid);
    child.once('exit', () => this.spawned.delete(pid));
  }

  /**
   * Starts a process (runc, the pod guard, a CNI plugin): with posix_spawn as a PosixChild this
   * reaper watches, or with child_process.spawn tracked (see trackSpawned) for options PosixChild
   * does not take (a fourth stdio entry, a uid) or once posix_spawn proved unusable.
   */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): SpawnedChild {
    if (this.needSubreaper) {
      becomeSubreaper();
      this.needSubreaper = false;
    }
    const stdio = Array.isArray(options.stdio) ? options.stdio : [options.stdio ?? 'pipe', options.stdio ?? 'pipe', options.stdio ?? 'pipe'];
    if (posixSpawnChosen() && posixStdioSupported(stdio, options as Record<string, unknown>)) {
      try {
        return new PosixChild(command, args, {
          stdio: stdio as [PosixStdio, PosixStdio, PosixStdio],
          ...(options.cwd !== undefined ? { cwd: String(options.cwd) } : {}),
          ...(options.env !== undefined ? { env: options.env } : {}),
          ...(options.detached !== undefined ? { detached: options.detached } : {}),
        }, (pid, done) => this.watchExit(pid, done));
      } catch (err) {
        posixSpawnUnusable(); // koffi or posix_spawn unusable here: Node's spawn from now on
        this.log.warn({ err }, 'posix_spawn unusable, using child_process');
      }
    }
    const child = cpSpawn(command, args, options);
    this.trackSpawned(child);
    return child;
  }

  /** Like watch(), with whether a signal ended it, for a child this process spawned. */
  private watchExit(pid: number, done: (e: ReapedExit) => void): void {
    this.watch(pid).then(
      (e) => done({ status: e.status, signaled: e.signaled === true }),
      () => done({ status: 255, signaled: false }), // reaped elsewhere: status unknown
    );
  }

  /** Runs one sweep now (watched pids, then orphans). Exposed for tests and shutdown paths. */
  sweep(): void {
    this.reapWatched();
    if (this.reapOrphans && this.expectations === 0) this.reapUnwatchedZombies();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('SIGCHLD', this.onSigchld);
    clearInterval(this.timer);
  }

  private reapWatched(): void {
    for (const pid of [...this.watched.keys()]) this.tryReap(pid);
  }

  private tryReap(pid: number): void {
    const pending = this.watched.get(pid);
    if (!pending) return;
    try {
      const r = waitid(P_PID, pid, WNOHANG);
      if (!r) return;
      this.watched.delete(pid);
      pending.resolve({ pid, status: r.status, exitedAt: new Date(), signaled: r.signaled });
    } catch (e) {
      this.watched.delete(pid);
      const early = this.recent.get(pid);
      if (early && isErrno(e, 'ECHILD')) {
        this.recent.delete(pid);
        pending.resolve(early);
      } else if (isErrno(e, 'ECHILD')) {
        pending.reject(new NotFoundError(`pid ${pid} is not a child of this process`, { cause: e }));
      } else {
        pending.reject(e);
      }
    }
  }

  private reapUnwatchedZombies(): void {
    const zombies = new Set<number>();
    for (const pid of listChildren()) {
      if (this.watched.has(pid) || this.spawned.has(pid) || !isZombie(pid)) continue;
      zombies.add(pid);
      if (!this.prevZombies.has(pid)) continue; // give libuv one sweep interval first
      try {
        const r = waitid(P_PID, pid, WNOHANG);
        if (r) this.remember({ pid, status: r.status, exitedAt: new Date() });
      } catch (e) {
        if (!isErrno(e, 'ECHILD')) this.log.warn({ pid, err: e }, 'reaping orphan failed');
      }
    }
    this.prevZombies = zombies;
  }

  private remember(exit: ExitInfo): void {
    this.log.debug({ pid: exit.pid, status: exit.status }, 'reaped orphan');
    this.recent.set(exit.pid, exit);
    if (this.recent.size > RECENT_LIMIT) {
      const oldest = this.recent.keys().next().value as number;
      this.recent.delete(oldest);
    }
  }
}

let helpers: Reaper | undefined;

/**
 * The one way berth starts a helper process outside a shim (CNI plugins, `unshare`, `<shim>
 * start`/`delete`, nsenter for port forwarding, runc in `shim delete`): Reaper.spawn on a reaper
 * of this process's own children, made on first use (it reaps no orphans and makes this process
 * no subreaper). A shim spawns through the subreaper it serves with (shim/server.ts).
 */
export function spawnHelper(command: string, args: readonly string[], options: SpawnOptions = {}): SpawnedChild {
  helpers ??= new Reaper({ reapOrphans: false });
  return helpers.spawn(command, args, options);
}

/** Direct children of this process, across all its threads (children are per-thread lists). */
function listChildren(): number[] {
  const out = new Set<number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return [];
  }
  for (const tid of tids) {
    try {
      for (const p of readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ')) {
        const n = Number(p);
        if (p !== '' && Number.isInteger(n)) out.add(n);
      }
    } catch {
      // thread gone meanwhile
    }
  }
  return [...out];
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
