// The pure parts of cri/runtime/stats-usage.ts: containerd's two-sample usage_nano_cores, the
// /proc/<pid>/net/dev and /proc/meminfo parsers (the integration test checks them on real pods).
import { describe, expect, it } from 'vitest';
import { hostSwapBytes, parseNetDev, pruneSamples, usageNanoCores } from './stats-usage.js';

describe('usageNanoCores', () => {
  it('0 on the first sample, then delta(usage)/delta(time) in ns per s; a counter going back starts over', () => {
    const owner = {};
    expect(usageNanoCores(owner, 'c', 1_000_000_000, 10_000_000_000n)).toBe(0);
    expect(usageNanoCores(owner, 'c', 1_500_000_000, 11_000_000_000n)).toBe(500_000_000); // half a core
    expect(usageNanoCores(owner, 'c', 3_500_000_000, 12_000_000_000n)).toBe(2_000_000_000); // two cores
    expect(usageNanoCores(owner, 'c', 3_500_000_000, 12_000_000_000n)).toBe(0); // no time passed
    expect(usageNanoCores(owner, 'c', 100, 13_000_000_000n)).toBe(0); // restarted: starts over
    expect(usageNanoCores(owner, 'c', 250_000_100, 14_000_000_000n)).toBe(250_000_000);
    expect(usageNanoCores({}, 'c', 5, 15_000_000_000n)).toBe(0); // another daemon keeps its own samples
    pruneSamples(owner, () => false);
    expect(usageNanoCores(owner, 'c', 500_000_100, 15_000_000_000n)).toBe(0); // pruned: a first sample again
  });
});

describe('parseNetDev and hostSwapBytes', () => {
  it('reads bytes and errors of each interface, and SwapTotal in bytes', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0',
      '  eth0:   12345      40    1    0    0     0          0         0     6789      30    2    0    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual([
      { name: 'lo', rxBytes: 140, rxErrors: 0, txBytes: 140, txErrors: 0 },
      { name: 'eth0', rxBytes: 12345, rxErrors: 1, txBytes: 6789, txErrors: 2 },
    ]);
    expect(hostSwapBytes('MemTotal: 100 kB\nSwapTotal:        2048 kB\n')).toBe(2048 * 1024);
    expect(hostSwapBytes('SwapTotal:             0 kB\n')).toBe(0);
  });
});
