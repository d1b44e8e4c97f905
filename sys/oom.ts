// OOM notifications per cgroup, emitted as 'oom' with the cgroup path.
//
// cgroup v1: an eventfd registered through `cgroup.event_control` against `memory.oom_control`
// (the kernel bumps the eventfd's counter on every OOM in the cgroup, and once more when the
// cgroup is removed). The eventfd is non-blocking and read by one unref'd timer: a blocking read
// or a koffi `.async` poll would pin a libuv threadpool thread for the cgroup's whole life (and
// koffi async polls woken by readiness crashed at exit next to child_process, docs/sys.md);
// Node's net cannot wrap an eventfd (ERR_INVALID_FD_TYPE). One 8-byte read per cgroup per tick
// costs nothing measurable; latency is bounded by the interval.
// cgroup v2: the `oom_kill` counter in `memory.events`. The kernel notifies a change of that file
// to inotify watchers (cgroup_file_notify), so each cgroup's file is watched (fs.watch) and read
// on every change, at once; the same tick compares it too, should a notification be missed.
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, openSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, NotFoundError, silentLogger, type Logger } from '../common/index.js';
import { cgroupDir, hostHierarchy, readMemoryEvents, type CgroupHierarchy, type CgroupVersion } from './cgroups.js';
import { closeFd, eventfd, readEventfd, EFD_CLOEXEC, EFD_NONBLOCK } from './libc.js';

type Entry =
  | { version: 1; dir: string; efd: number; controlFd: number }
  | { version: 2; dir: string; lastOomKill: number; watcher?: FSWatcher };

export interface OomWatcherOptions {
  /** Poll interval; default 200 ms. */
  intervalMs?: number;
  /** The hierarchy (default: the host's); a v2 one may have another root (a hybrid host's cgroup2 mount). */
  version?: CgroupVersion | CgroupHierarchy;
  logger?: Logger;
}

export class OomWatcher extends EventEmitter<{ oom: [cgroupPath: string] }> {
  private readonly entries = new Map<string, Entry>();
  private readonly hierarchy: CgroupHierarchy;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: OomWatcherOptions = {}) {
    super();
    const v = opts.version ?? hostHierarchy();
    this.hierarchy = typeof v === 'object' ? v : v === 2 ? { version: 2, root: '/sys/fs/cgroup' } : { version: 1 };
    this.intervalMs = opts.intervalMs ?? 200;
    this.log = opts.logger ?? silentLogger;
  }

  /** Starts watching `cgroupPath` (NotFoundError if its memory cgroup does not exist). */
  add(cgroupPath: string): void {
    if (this.entries.has(cgroupPath)) throw new AlreadyExistsError(`cgroup ${cgroupPath} is already watched for OOM`);
    const dir = cgroupDir(cgroupPath, 'memory', this.hierarchy);
    if (!existsSync(dir)) throw new NotFoundError(`memory cgroup ${cgroupPath} not found (${dir})`);
    this.entries.set(cgroupPath, this.hierarchy.version === 1 ? registerV1(dir) : this.registerV2(cgroupPath, dir));
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Stops watching; unknown paths are ignored. */
  remove(cgroupPath: string): void {
    const e = this.entries.get(cgroupPath);
    if (!e) return;
    this.entries.delete(cgroupPath);
    if (e.version === 1) release(e);
    else e.watcher?.close();
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    for (const p of [...this.entries.keys()]) this.remove(p);
  }

  /** One check of every watched cgroup (the timer's body; callable directly). */
  check(): void {
    for (const [cgroupPath, e] of [...this.entries]) this.checkEntry(cgroupPath, e);
  }

  private checkEntry(cgroupPath: string, e: Entry): void {
    try {
      if (this.checkOne(e)) this.emit('oom', cgroupPath);
      if (!existsSync(e.dir)) this.remove(cgroupPath); // cgroup removed: nothing more to see
    } catch (err) {
      this.log.warn({ cgroupPath, err }, 'OOM check failed');
    }
  }

  /** v2: the current oom_kill count, and an inotify watch of memory.events where it exists. */
  private registerV2(cgroupPath: string, dir: string): Entry {
    const e: Entry = { version: 2, dir, lastOomKill: readOomKill(dir) };
    const file = path.join(dir, 'memory.events');
    if (existsSync(file)) {
      try {
        e.watcher = watch(file, { persistent: false }, () => {
          if (this.entries.get(cgroupPath) === e) this.checkEntry(cgroupPath, e);
        });
        e.watcher.on('error', (err) => this.log.debug({ cgroupPath, err }, 'memory.events watch ended'));
      } catch (err) {
        this.log.debug({ cgroupPath, err }, 'memory.events cannot be watched: polled only');
      }
    }
    return e;
  }

  private checkOne(e: Entry): boolean {
    if (e.version === 1) {
      // The removal of the cgroup also signals the eventfd: only count it if the cgroup lives.
      return readEventfd(e.efd) > 0n && existsSync(path.join(e.dir, 'memory.oom_control'));
    }
    if (!existsSync(e.dir)) return false;
    const n = readOomKill(e.dir);
    const grew = n > e.lastOomKill;
    e.lastOomKill = n;
    return grew;
  }
}

function registerV1(dir: string): Entry {
  const controlFd = openSync(path.join(dir, 'memory.oom_control'), 'r');
  let efd = -1;
  try {
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    writeFileSync(path.join(dir, 'cgroup.event_control'), `${efd} ${controlFd}`);
    return { version: 1, dir, efd, controlFd };
  } catch (e) {
    if (efd >= 0) closeFd(efd);
    closeSync(controlFd);
    throw e;
  }
}

function release(e: { efd: number; controlFd: number }): void {
  closeFd(e.efd);
  closeSync(e.controlFd);
}

function readOomKill(dir: string): number {
  return readMemoryEvents(dir).get('oom_kill') ?? 0;
}
