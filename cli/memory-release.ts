// When the daemon hands memory back after a burst (cli/daemon-memory.ts, docs/bench.md "Daemon
// memory"): one decision per check, from what the caller reads (event loop utilization since the
// last check, heap in use, the clock); no timers or globals here.

export interface ReleaseOptions {
  /** A full GC (`gc` from `--expose-gc`); none: trims only. */
  gc?: () => void;
  /** malloc_trim(0); throws where it does not exist, and is then not called again. */
  trim: () => void;
  heapUsed: () => number;
  now: () => number;
  /** Busier than this since the last check: nothing is done (the burst is not over). */
  idleUtilization: number;
  /** A heap grown by this much since the last release gets a full GC, then a trim. */
  gcAfterGrowth: number;
  /** A trim at least this often while idle, grown heap or not. */
  trimEveryMs: number;
}

export type ReleaseStep = 'busy' | 'nothing' | 'trim' | 'gc+trim' | 'gc';

/** The check to run every few seconds: given the event loop utilization since the last one. */
export function memoryRelease(o: ReleaseOptions): (utilization: number) => ReleaseStep {
  let heapAfterRelease = o.heapUsed();
  let lastTrim = o.now();
  let trimOff = false;
  return (utilization) => {
    if (utilization > o.idleUtilization) return 'busy';
    const grown = o.heapUsed() - heapAfterRelease > o.gcAfterGrowth;
    const gc = grown && o.gc !== undefined;
    if (gc) o.gc!();
    if (grown) heapAfterRelease = o.heapUsed();
    let trimmed = false;
    if (!trimOff && (grown || o.now() - lastTrim >= o.trimEveryMs)) {
      try {
        o.trim();
        trimmed = true;
      } catch {
        trimOff = true;
      }
      lastTrim = o.now();
    }
    return gc ? (trimmed ? 'gc+trim' : 'gc') : trimmed ? 'trim' : 'nothing';
  };
}
