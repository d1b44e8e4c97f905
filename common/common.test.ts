import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CleanupStack, Code, KeyedMutex, NotFoundError, PhaseClock, deepFreeze, errorFromCode, settleAll, writeFileAtomicSync, isBerthError, joinWithin, toStatus,
  validateIdentifier,
} from './index.js';

describe('errors', () => {
  it('maps classes to codes and back', () => {
    const e = new NotFoundError('container x: not found');
    expect(toStatus(e)).toEqual({ code: Code.NOT_FOUND, message: 'container x: not found' });
    const back = errorFromCode(Code.ALREADY_EXISTS, 'dup');
    expect(isBerthError(back)).toBe(true);
    expect(back.kind).toBe('already-exists');
    expect(errorFromCode(99, 'x').kind).toBe('unknown');
  });
  it('classifies node errno errors and plain values', () => {
    const enoent = Object.assign(new Error('no file'), { code: 'ENOENT' });
    expect(toStatus(enoent).code).toBe(Code.NOT_FOUND);
    expect(toStatus('boom')).toEqual({ code: Code.UNKNOWN, message: 'boom' });
  });
});

describe('CleanupStack', () => {
  it('unwinds newest first, logs and survives failing or hanging steps', async () => {
    const order: string[] = [];
    const warnings: unknown[] = [];
    const undo = new CleanupStack();
    undo.push('a', () => order.push('a'));
    undo.push('b', () => { throw new Error('b failed'); });
    undo.push('c', () => new Promise(() => {}));
    undo.push('d', async () => { order.push('d'); });
    await undo.unwind({ warn: (o: unknown) => warnings.push(o) } as never, { timeoutMs: 50 });
    expect(order).toEqual(['d', 'a']);
    expect(warnings).toHaveLength(2);
    expect(undo.size).toBe(0);
  });
});

describe('KeyedMutex', () => {
  it('serializes one key and lets other keys run', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await Promise.all([
      m.run('a', async () => { log.push('a1+'); await sleep(20); log.push('a1-'); }),
      m.run('a', async () => { log.push('a2+'); log.push('a2-'); }),
      m.run('b', async () => { log.push('b+'); }),
    ]);
    expect(log.indexOf('a2+')).toBeGreaterThan(log.indexOf('a1-'));
    expect(log.indexOf('b+')).toBeLessThan(log.indexOf('a1-'));
    await expect(m.run('a', () => { throw new Error('x'); })).rejects.toThrow('x');
    expect(await m.run('a', () => 7)).toBe(7);
  });
});

describe('paths', () => {
  it('refuses escapes and bad identifiers', () => {
    expect(joinWithin('/run/berth', 'k8s.io', 'abc')).toBe('/run/berth/k8s.io/abc');
    expect(() => joinWithin('/run/berth', '..', 'etc')).toThrow(/escapes/);
    expect(() => joinWithin('/run/berth', 'a/../../x')).toThrow(/escapes/);
    expect(joinWithin('/run/berth', '/abs')).toBe('/run/berth/abs');
    expect(() => validateIdentifier('../x')).toThrow(/not valid/);
    expect(validateIdentifier('k8s.io')).toBe('k8s.io');
  });
});

describe('PhaseClock', () => {
  it('keeps overlapping phases by start and duration, adds repeats, and ends with the total', async () => {
    const clock = new PhaseClock();
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await clock.time('a', () => wait(20));
    await Promise.all([clock.time('b', () => wait(30)), clock.time('c', () => wait(10))]);
    await clock.time('a', () => wait(20));
    await expect(clock.time('d', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const s = clock.snapshot();
    expect(Object.keys(s)).toEqual(['a', 'b', 'c', 'd', 'total']);
    expect(s.a!.at).toBeLessThan(5);
    expect(s.a!.ms).toBeGreaterThanOrEqual(38);
    expect(s.b!.at).toBeGreaterThanOrEqual(19);
    expect(Math.abs(s.b!.at - s.c!.at)).toBeLessThan(5); // they ran side by side
    expect(s.b!.ms).toBeGreaterThan(s.c!.ms);
    expect(s.d!.at).toBeGreaterThanOrEqual(s.a!.ms + 25);
    expect(s.total!.ms).toBeGreaterThanOrEqual(s.d!.at + s.d!.ms);
  });
});

describe('settleAll, deepFreeze, writeFileAtomicSync', () => {
  it('settleAll gives the values, or the first failure in argument order only after every promise settled', async () => {
    expect(await settleAll([Promise.resolve(1), 'two', Promise.resolve({ three: 3 })])).toEqual([1, 'two', { three: 3 }]);
    let slowDone = false;
    const slow = new Promise<void>((r) => setTimeout(() => { slowDone = true; r(); }, 50));
    const err = await settleAll([slow, Promise.reject(new Error('first')), Promise.reject(new Error('second'))]).catch((e: Error) => e);
    expect([(err as Error).message, slowDone]).toEqual(['first', true]);
  });

  it('deepFreeze freezes what is reachable', () => {
    const o = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect([Object.isFrozen(o), Object.isFrozen(o.a), Object.isFrozen(o.a.b), Object.isFrozen(o.a.b[1])]).toEqual([true, true, true, true]);
  });

  it('writeFileAtomicSync replaces a file whole and leaves no temp file, also when it fails', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-atomic-'));
    try {
      const file = path.join(dir, 'f');
      writeFileAtomicSync(file, 'one');
      writeFileAtomicSync(file, 'two', { tmp: path.join(dir, '.f') });
      expect([readFileSync(file, 'utf8'), readdirSync(dir)]).toEqual(['two', ['f']]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      mkdirSync(path.join(dir, 'sub'));
      expect(() => writeFileAtomicSync(path.join(dir, 'sub'), 'x')).toThrow(); // rename over a directory
      expect(readdirSync(dir).sort()).toEqual(['f', 'sub']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
