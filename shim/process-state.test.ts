import { describe, expect, it } from 'vitest';
import { isBerthError } from '../common/index.js';
import { STATUS, statusOf, toDeleted, toPaused, toResumed, toRunning, toStopped, type ProcessState } from './process-state.js';

const now = new Date(1_700_000_000_000);

function errorOf(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isBerthError(e)) return { kind: e.kind, message: e.message };
  }
  throw new Error('expected a BerthError');
}

describe('process states', () => {
  it('walks created -> running -> paused -> running -> stopped -> deleted', () => {
    let s: ProcessState = { kind: 'created', pid: 10 };
    expect(statusOf(s)).toBe(STATUS.created);
    s = toRunning(s, 10, now);
    s = toPaused(s);
    expect(statusOf(s)).toBe(STATUS.paused);
    s = toResumed(s);
    s = toStopped(s, { exitStatus: 3, exitedAt: now });
    expect(statusOf(s)).toBe(STATUS.stopped);
    expect(toStopped(s, { exitStatus: 9, exitedAt: now })).toBe(s);
    s = toDeleted(s, new Date());
    expect(s).toMatchObject({ kind: 'deleted', exitStatus: 3, pid: 10 });
  });

  it('refuses illegal moves with the runc shim sentences (code UNKNOWN)', () => {
    const running: ProcessState = { kind: 'running', pid: 1, startedAt: now };
    expect(errorOf(() => toDeleted(running, now))).toEqual({ kind: 'unknown', message: 'cannot delete a running process' });
    expect(errorOf(() => toDeleted(toPaused(running), now)).message).toBe('cannot delete a paused process');
    expect(errorOf(() => toRunning(running, 1, now)).message).toBe('cannot start a running process');
    expect(errorOf(() => toPaused({ kind: 'created', pid: 1 })).message).toBe('cannot pause task in created state');
    expect(errorOf(() => toResumed(running)).message).toBe('cannot resume a running container');
  });
});
