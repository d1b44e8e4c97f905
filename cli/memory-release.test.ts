import { describe, expect, it } from 'vitest';
import { memoryRelease, type ReleaseOptions } from './memory-release.js';

const MiB = 1024 * 1024;

/** A daemon's view: its heap and clock set by the test, its GCs and trims counted. */
function daemon(o: Partial<ReleaseOptions> = {}) {
  const d = { heap: 20 * MiB, clock: 0, gcs: 0, trims: 0 };
  const check = memoryRelease({
    gc: () => {
      d.gcs++;
      d.heap = 14 * MiB; // what a full GC finds alive
    },
    trim: () => void d.trims++,
    heapUsed: () => d.heap,
    now: () => d.clock,
    idleUtilization: 0.05,
    gcAfterGrowth: 4 * MiB,
    trimEveryMs: 30_000,
    ...o,
  });
  return { d, check };
}

describe('memory release after a burst', () => {
  it('does nothing while the event loop is busy, whatever the heap grew', () => {
    const { d, check } = daemon();
    d.heap += 50 * MiB;
    d.clock += 120_000;
    expect(check(0.4)).toBe('busy');
    expect([d.gcs, d.trims]).toEqual([0, 0]);
  });

  it('collects once a grown heap goes idle, then trims, and not again until it grows again', () => {
    const { d, check } = daemon();
    d.heap += 5 * MiB;
    d.clock += 5_000;
    expect(check(0.01)).toBe('gc+trim');
    // The next growth is measured from what the GC left (14 MiB), not from the start.
    d.heap = 17 * MiB;
    d.clock += 5_000;
    expect(check(0.01)).toBe('nothing');
    d.heap = 19 * MiB;
    d.clock += 5_000;
    expect(check(0.02)).toBe('gc+trim');
    expect([d.gcs, d.trims]).toEqual([2, 2]);
  });

  it('trims every trimEveryMs while idle without a GC when the heap did not grow', () => {
    const { d, check } = daemon();
    d.clock += 29_999;
    expect(check(0)).toBe('nothing');
    d.clock += 1;
    expect(check(0)).toBe('trim');
    d.clock += 5_000;
    expect(check(0)).toBe('nothing');
    expect([d.gcs, d.trims]).toEqual([0, 1]);
  });

  it('keeps collecting but stops trimming where malloc_trim does not exist', () => {
    let calls = 0;
    const { d, check } = daemon({ trim: () => { calls++; throw new Error('koffi: no malloc_trim'); } });
    d.heap += 5 * MiB;
    expect(check(0)).toBe('gc');
    d.heap += 5 * MiB;
    d.clock += 60_000;
    expect(check(0)).toBe('gc');
    expect([d.gcs, calls]).toEqual([2, 1]);
  });

  it('without a gc function only trims', () => {
    const { d, check } = daemon({ gc: undefined });
    d.heap += 50 * MiB;
    expect(check(0)).toBe('trim');
    expect(d.gcs).toBe(0);
  });
});
