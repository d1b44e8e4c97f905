import { afterEach, describe, expect, it } from 'vitest';
import { ExitMonitor, type TaskExit } from './exit-monitor.js';

const monitors: ExitMonitor[] = [];
afterEach(() => {
  for (const m of monitors.splice(0)) m.close();
});

function monitor(opts: ConstructorParameters<typeof ExitMonitor>[0] = {}): ExitMonitor {
  const m = new ExitMonitor(opts);
  monitors.push(m);
  return m;
}

const exit = (id: string, status: number, container = 'c1'): TaskExit => ({
  namespace: 'ns1', containerId: container, id, pid: 42, exitStatus: status, exitedAt: new Date(1_700_000_000_000),
});

describe('ExitMonitor', () => {
  it('de-duplicates and publishes once per process, until the exit is forgotten', async () => {
    const mon = monitor();
    const seen: TaskExit[] = [];
    mon.subscribe('test', (e) => { seen.push(e); });
    expect(mon.record(exit('c1', 3), 'event').recorded).toBe(true);
    const again = mon.record(exit('c1', 9), 'wait');
    expect(again.recorded).toBe(false);
    expect(again.exit.exitStatus).toBe(3); // the first one stays
    expect(mon.record(exit('e1', 0), 'wait').recorded).toBe(true);
    await expect.poll(() => seen.map((e) => [e.id, e.exitStatus])).toEqual([['c1', 3], ['e1', 0]]);
    expect(mon.get('ns1', 'c1')?.exitStatus).toBe(3);
    mon.forget('ns1', 'c1');
    expect(mon.get('ns1', 'c1')).toBeUndefined();
    expect(mon.record(exit('c1', 4), 'wait').recorded).toBe(true); // a new task with the same id
    await expect.poll(() => seen.map((e) => e.exitStatus)).toEqual([3, 0, 4]);
    expect(mon.size).toBe(2);
  });

  it('forgets a given exit only while it is the one recorded', () => {
    const mon = monitor();
    const first = mon.record(exit('c1', 1), 'dead-shim').exit;
    mon.forget('ns1', 'c1');
    mon.record(exit('c1', 2), 'wait'); // the id was reused meanwhile
    mon.forget('ns1', 'c1', 'c1', first);
    expect(mon.get('ns1', 'c1')?.exitStatus).toBe(2);
  });

  it('settles `handled` once every subscriber handled the exit, retries included', async () => {
    const mon = monitor({ retryInitialMs: 20, retryMaxMs: 40 });
    await expect(monitor().record(exit('c1', 0), 'wait').handled).resolves.toBeUndefined(); // nobody to tell
    let failures = 2;
    mon.subscribe('flaky', () => { if (failures-- > 0) throw new Error('store busy'); });
    let slowDone = false;
    mon.subscribe('slow', async () => { await new Promise((r) => setTimeout(r, 30)); slowDone = true; });
    let handled = false;
    const r = mon.record(exit('c1', 137), 'dead-shim');
    void r.handled.then(() => { handled = true; });
    await new Promise((res) => setTimeout(res, 10));
    expect(handled).toBe(false);
    await r.handled;
    expect(failures).toBe(-1); // two failures, then success
    expect(slowDone).toBe(true);
    expect(mon.record(exit('c1', 137), 'reload').handled).toBe(r.handled);
  });

  it('retries a failing subscriber with backoff, keeping per-id order and not blocking other ids', async () => {
    const mon = monitor({ retryInitialMs: 20, retryMaxMs: 80 });
    let failures = 2;
    const handled: string[] = [];
    mon.subscribe('flaky', (e) => {
      if (e.containerId === 'c1' && failures > 0) { failures--; throw new Error('store busy'); }
      handled.push(`${e.containerId}/${e.id}`);
    });
    mon.record(exit('c1', 1), 'wait');
    mon.record(exit('e1', 2), 'wait'); // same container: queued behind c1
    mon.record(exit('c2', 0, 'c2'), 'wait'); // other container: not held up
    await new Promise((r) => setTimeout(r, 10));
    expect(handled).toEqual(['c2/c2']);
    await mon.waitFor('ns1', 'c1');
    await expect.poll(() => handled, { timeout: 2_000 }).toEqual(['c2/c2', 'c1/c1', 'c1/e1']);
  });

  it('keeps a container\'s order while its first delivery is still in flight', async () => {
    const mon = monitor({ retryInitialMs: 20, retryMaxMs: 80 });
    let failures = 1;
    const handled: string[] = [];
    mon.subscribe('slow', async (e) => {
      // The init exit's handler is slow (a store write) and fails once.
      if (e.id === 'c1') await new Promise((r) => setTimeout(r, 100));
      if (e.id === 'c1' && failures > 0) { failures--; throw new Error('store busy'); }
      handled.push(e.id);
    });
    mon.record(exit('c1', 1), 'wait');
    mon.record(exit('e1', 2), 'wait'); // recorded while c1's first attempt is running
    await expect.poll(() => handled, { timeout: 2_000 }).toEqual(['c1', 'e1']);
  });

  it('drops the registration of a wait once the exit is recorded', async () => {
    const mon = monitor();
    mon.record(exit('c1', 5), 'wait');
    for (let i = 0; i < 3; i++) expect((await mon.waitFor('ns1', 'c1')).exitStatus).toBe(5);
    expect(mon.pendingWaits).toBe(0);
    const later = mon.waitFor('ns1', 'c1', 'e9');
    expect(mon.pendingWaits).toBe(1);
    mon.record(exit('e9', 0), 'wait');
    expect((await later).exitStatus).toBe(0);
    expect(mon.pendingWaits).toBe(0);
  });
});
