// A phase clock: where the time of one multi-step call goes, for the breakdowns berth reports
// (RunPodSandbox's in a verbose PodSandboxStatus). Phases may overlap (the pod network is made
// while the pause task is), so each is kept as its start offset and duration from the clock's
// zero, in milliseconds rounded to 0.1.
import { performance } from 'node:perf_hooks';

export interface Phase {
  /** Start, ms after the clock's zero. */
  readonly at: number;
  /** Duration, ms. */
  readonly ms: number;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

export class PhaseClock {
  readonly #t0: number;
  /** name -> raw start (performance.now()) and summed duration */
  readonly #phases = new Map<string, { start: number; ms: number }>();

  /** `t0`: the clock's zero as a performance.now() reading (default now; 0 is the process's start). */
  constructor(t0 = performance.now()) {
    this.#t0 = t0;
  }

  /** Times `fn` as phase `name` (a repeated name keeps its first start and adds the durations). */
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.record(name, start, performance.now());
    }
  }

  /** Records a phase from two performance.now() readings. */
  record(name: string, start: number, end: number): void {
    const prev = this.#phases.get(name);
    this.#phases.set(name, { start: prev?.start ?? start, ms: (prev?.ms ?? 0) + end - start });
  }

  /** Milliseconds since the clock's zero. */
  elapsed(): number {
    return round(performance.now() - this.#t0);
  }

  /** The phases in the order they started, plus `total` (zero to now). */
  snapshot(): Record<string, Phase> {
    const out: Record<string, Phase> = {};
    for (const [name, p] of [...this.#phases].sort((a, b) => a[1].start - b[1].start)) {
      out[name] = { at: round(p.start - this.#t0), ms: round(p.ms) };
    }
    out.total = { at: 0, ms: this.elapsed() };
    return out;
  }
}
