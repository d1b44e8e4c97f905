// OOM notifications per cgroup, emitted as 'oom' with the cgroup path.
//
// cgroup v1: an eventfd registered through `cgroup.event_control` against `memory.oom_control`
// (the kernel bumps the eventfd's counter on every OOM in the cgroup, and once more when the
// cgroup is removed). The eventfd is non-blocking and read by one unref'd timer: a blocking read
// or a koffi `.async` poll would pin a libuv threadpool thread for the cgroup's whole life (and
// koffi async polls woken by readiness crashed at exit next to child_process, docs/sys.md);
// Node's net cannot wrap an eventfd (ERR_INVALID_FD_TYPE). One 8-byte read per cgroup per tick
// costs nothing measurable; latency is bounded by the interval.
// cgroup v2: the `oom_kill` counter in `memory.events`, compared on the same tick.
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, NotFoundError, silentLogger, type Logger } from '../common/index.js';
import { cgroupDir, cgroupVersion, parseFlatKeyed, type CgroupVersion } from './cgroups.js';
import { closeFd, eventfd, readEventfd, EFD_CLOEXEC, EFD_NONBLOCK } from './libc.js';

type Entry =
  | { version: 1; dir: string; efd: number; controlFd: number }
  | { version: 2; dir: string; lastOomKill: number };

export interface OomWatcherOptions {
  /** Poll interval; default 200 ms. */
  intervalMs?: number;
  version?: CgroupVersion;
  logger?: Logger;
}

export class OomWatcher extends EventEmitter<{ oom: [cgroupPath: string] }> {
  private readonly entries = new Map<string, Entry>();
  private readonly version: CgroupVersion;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: OomWatcherOptions = {}) {
    super();
    this.version = opts.version ?? cgroupVersion();
    this.intervalMs = opts.intervalMs ?? 200;
    this.log = opts.logger ?? silentLogger;
  }

  /** Starts watching `cgroupPath` (NotFoundError if its memory cgroup does not exist). */
  add(cgroupPath: string): void {
    if (this.entries.has(cgroupPath)) throw new AlreadyExistsError(`cgroup ${cgroupPath} is already watched for OOM`);
    const dir = cgroupDir(cgroupPath, 'memory', this.version);
    if (!existsSync(dir)) throw new NotFoundError(`memory cgroup ${cgroupPath} not found (${dir})`);
    this.entries.set(cgroupPath, this.version === 1 ? registerV1(dir) : { version: 2, dir, lastOomKill: readOomKill(dir) });
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
    for (const [cgroupPath, e] of [...this.entries]) {
      try {
        if (this.checkOne(e)) this.emit('oom', cgroupPath);
        if (!existsSync(e.dir)) this.remove(cgroupPath); // cgroup removed: nothing more to see
      } catch (err) {
        this.log.warn({ cgroupPath, err }, 'OOM check failed');
      }
    }
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
  try {
    return parseFlatKeyed(readFileSync(path.join(dir, 'memory.events'), 'utf8')).get('oom_kill') ?? 0;
  } catch {
    return 0;
  }
}
