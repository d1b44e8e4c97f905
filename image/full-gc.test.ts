import { setImmediate } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { fullGc } from './full-gc.js';

describe('fullGc', () => {
  it('collects dead objects and the ArrayBuffers they held, without --expose-gc on the command line', async () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    let held: { bufs: ArrayBuffer[] } | undefined = { bufs: Array.from({ length: 32 }, () => new ArrayBuffer(1 << 20)) };
    const weak = new WeakRef(held);
    const before = process.memoryUsage().arrayBuffers;
    held = undefined;
    await setImmediate(); // a WeakRef target lives until the end of the job that made it
    expect(fullGc()).toBe(true);
    expect(weak.deref()).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers).toBeLessThanOrEqual(before - (32 << 20));
    // The daemon's own global did not get `gc`.
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
  });
});
