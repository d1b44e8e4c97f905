import { describe, expect, it } from 'vitest';
import { downloadAndUnpack } from './pull.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records the order of download/unpack starts and ends; `fail` names steps that throw. */
function recorder(delays: Record<string, number>, fail: ReadonlySet<string> = new Set()) {
  const events: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const step = async (name: string) => {
    events.push(`${name}+`);
    await sleep(delays[name] ?? 5);
    if (fail.has(name)) {
      events.push(`${name}!`);
      throw new Error(`${name} failed`);
    }
    events.push(`${name}-`);
  };
  return {
    events,
    get maxInFlight() { return maxInFlight; },
    download: async (l: string) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await step(`d${l}`);
      } finally {
        inFlight--;
      }
    },
    unpack: (l: string) => step(`u${l}`),
  };
}

describe('downloadAndUnpack', () => {
  it('downloads at most `limit` at once and unpacks in order while later layers still download', async () => {
    const r = recorder({ d0: 10, d1: 40, d2: 20, d3: 60, d4: 60 });
    await downloadAndUnpack(['0', '1', '2', '3', '4'], 3, r.download, r.unpack);
    expect(r.maxInFlight).toBe(3);
    const at = (e: string) => r.events.indexOf(e);
    for (let i = 0; i < 5; i++) {
      expect(at(`u${i}+`)).toBeGreaterThan(at(`d${i}-`));
      if (i > 0) expect(at(`u${i}+`)).toBeGreaterThan(at(`u${i - 1}-`));
    }
    // Layer 0 was unpacked before the last downloads were done; downloads started in order.
    expect(at('u0-')).toBeLessThan(at('d4-'));
    expect(r.events.filter((e) => e.startsWith('d') && e.endsWith('+'))).toEqual(['d0+', 'd1+', 'd2+', 'd3+', 'd4+']);
  });

  it('a failed download starts no further download, unpacks nothing above it and waits for the started ones', async () => {
    const r = recorder({ d0: 5, d1: 10, d2: 50, d3: 30, d4: 5 }, new Set(['d1']));
    await expect(downloadAndUnpack(['0', '1', '2', '3', '4'], 3, r.download, r.unpack)).rejects.toThrow('d1 failed');
    // d2 was running when d1 failed: the error came only after it finished.
    expect(r.events).toContain('d2-');
    expect(r.events).not.toContain('u1+');
    expect(r.events).not.toContain('u2+');
    // Once d1 failed no new download started (d3 may have started when d0 ended, d4 never).
    expect(r.events).not.toContain('d4+');
    expect(r.events.indexOf('d1!')).toBeGreaterThan(-1);
    for (const e of r.events.filter((x) => x.startsWith('d') && x.endsWith('+'))) {
      expect(r.events.indexOf(e)).toBeLessThan(r.events.indexOf('d1!'));
    }
  });

  it('a failed unpack stops the downloads not yet started and waits for the started ones', async () => {
    const r = recorder({ d0: 5, d1: 30, d2: 30, d3: 30 }, new Set(['u0']));
    await expect(downloadAndUnpack(['0', '1', '2', '3', '4'], 2, r.download, r.unpack)).rejects.toThrow('u0 failed');
    expect(r.events).not.toContain('u1+');
    const started = r.events.filter((e) => e.startsWith('d') && e.endsWith('+'));
    for (const s of started) expect(r.events).toContain(s.replace('+', '-'));
    expect(started.length).toBeLessThan(5);
  });

  it('handles no layers and a limit below 1', async () => {
    const r = recorder({});
    await downloadAndUnpack([], 3, r.download, r.unpack);
    await downloadAndUnpack(['0', '1'], 0, r.download, r.unpack);
    expect(r.events).toHaveLength(8);
    expect(r.events.indexOf('d1+')).toBeGreaterThan(r.events.indexOf('d0-'));
    expect(r.maxInFlight).toBe(1);
  });
});
