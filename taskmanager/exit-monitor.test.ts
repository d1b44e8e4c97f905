import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { ExitMonitor, type ExitDb, type TaskExit } from './exit-monitor.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function openDb(dir?: string): Promise<{ db: ExitDb; dir: string; close: () => Promise<void> }> {
  const d = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'berth-exitmon-')));
  const level = new Level<string, unknown>(d, { valueEncoding: 'json' });
  await level.open();
  const sub = level.sublevel<string, unknown>('exits', { valueEncoding: 'json' });
  return { db: sub as unknown as ExitDb, dir: d, close: () => level.close() };
}

const exit = (id: string, status: number, container = 'c1'): TaskExit => ({
  namespace: 'ns1', containerId: container, id, pid: 42, exitStatus: status, exitedAt: new Date(1_700_000_000_000),
});

describe('ExitMonitor', () => {
  it('records durably, de-duplicates, and publishes once per process', async () => {
    const { db, dir, close } = await openDb();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mon = new ExitMonitor({ db });
    const seen: TaskExit[] = [];
    mon.subscribe('test', (e) => { seen.push(e); });
    expect(await mon.record(exit('c1', 3), 'event')).toBe(true);
    expect(await mon.record(exit('c1', 3), 'wait')).toBe(false);
    expect(await mon.record(exit('e1', 0), 'wait')).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((e) => [e.id, e.exitStatus])).toEqual([['c1', 3], ['e1', 0]]);
    mon.close();
    await close();
    // A new monitor on the same db still knows the exit, and nothing is replayed (all delivered).
    const again = await openDb(dir);
    const mon2 = new ExitMonitor({ db: again.db });
    expect((await mon2.get('ns1', 'c1'))?.exitStatus).toBe(3);
    expect(await mon2.record(exit('c1', 9), 'reload')).toBe(false);
    expect(await mon2.replayUndelivered()).toBe(0);
    await mon2.forget('ns1', 'c1');
    expect(await mon2.get('ns1', 'c1')).toBeUndefined();
    await again.close();
  });

  it('retries a failing subscriber with backoff, keeping per-id order and not blocking other ids', async () => {
    const { db, dir, close } = await openDb();
    cleanups.push(async () => { await close(); await rm(dir, { recursive: true, force: true }); });
    const mon = new ExitMonitor({ db, retryInitialMs: 20, retryMaxMs: 80 });
    cleanups.push(async () => mon.close());
    let failures = 2;
    const handled: string[] = [];
    mon.subscribe('flaky', (e) => {
      if (e.containerId === 'c1' && failures > 0) { failures--; throw new Error('store busy'); }
      handled.push(`${e.containerId}/${e.id}`);
    });
    await mon.record(exit('c1', 1), 'wait');
    await mon.record(exit('e1', 2), 'wait'); // same container: queued behind c1
    await mon.record(exit('c2', 0, 'c2'), 'wait'); // other container: not held up
    await new Promise((r) => setTimeout(r, 10));
    expect(handled).toEqual(['c2/c2']);
    await mon.waitFor('ns1', 'c1');
    await expect.poll(() => handled, { timeout: 2_000 }).toEqual(['c2/c2', 'c1/c1', 'c1/e1']);
  });

  it('keeps a container\'s order while its first delivery is still in flight', async () => {
    const { db, dir, close } = await openDb();
    cleanups.push(async () => { await close(); await rm(dir, { recursive: true, force: true }); });
    const mon = new ExitMonitor({ db, retryInitialMs: 20, retryMaxMs: 80 });
    cleanups.push(async () => mon.close());
    let failures = 1;
    const handled: string[] = [];
    mon.subscribe('slow', async (e) => {
      // The init exit's handler is slow (a store write) and fails once.
      if (e.id === 'c1') await new Promise((r) => setTimeout(r, 100));
      if (e.id === 'c1' && failures > 0) { failures--; throw new Error('store busy'); }
      handled.push(e.id);
    });
    await mon.record(exit('c1', 1), 'wait');
    await mon.record(exit('e1', 2), 'wait'); // recorded while c1's first attempt is running
    await expect.poll(() => handled, { timeout: 2_000 }).toEqual(['c1', 'e1']);
  });

  it('drops the registration of a wait that found the exit already recorded', async () => {
    const { db, dir, close } = await openDb();
    cleanups.push(async () => { await close(); await rm(dir, { recursive: true, force: true }); });
    const mon = new ExitMonitor({ db });
    await mon.record(exit('c1', 5), 'wait');
    for (let i = 0; i < 3; i++) expect((await mon.waitFor('ns1', 'c1')).exitStatus).toBe(5);
    expect(mon.pendingWaits).toBe(0);
    const later = mon.waitFor('ns1', 'c1', 'e9');
    await expect.poll(() => mon.pendingWaits).toBe(1);
    await mon.record(exit('e9', 0), 'wait');
    expect((await later).exitStatus).toBe(0);
    expect(mon.pendingWaits).toBe(0);
  });

  it('replays exits recorded but not handled before a restart', async () => {
    const { db, dir, close } = await openDb();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mon = new ExitMonitor({ db });
    await mon.record(exit('c1', 137), 'dead-shim'); // no subscriber yet: not delivered
    mon.close();
    await close();
    const again = await openDb(dir);
    cleanups.push(() => again.close());
    const mon2 = new ExitMonitor({ db: again.db });
    const seen: number[] = [];
    mon2.subscribe('late', (e) => { seen.push(e.exitStatus); });
    expect(await mon2.replayUndelivered()).toBe(1);
    await expect.poll(() => seen).toEqual([137]);
  });
});
