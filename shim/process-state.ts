// Process states as a discriminated union (docs/shim.md): illegal states cannot be built, illegal
// moves throw the sentence the runc shim answers with (code 2 / UNKNOWN, like its plain errors).
//
//   created --start--> running --pause--> paused --resume--> running
//      |                  |                  |
//      +------exit--------+-------exit-------+--> stopped --delete--> deleted
//      +------delete (never started) --------------------------------> deleted
import { BerthError } from '../common/index.js';

export interface Exited {
  exitStatus: number;
  exitedAt: Date;
}

export type ProcessState =
  | { kind: 'created'; pid: number }
  | { kind: 'running'; pid: number; startedAt: Date }
  | { kind: 'paused'; pid: number; startedAt: Date }
  | ({ kind: 'stopped'; pid: number } & Exited)
  | ({ kind: 'deleted'; pid: number } & Exited);

function illegal(message: string): BerthError {
  return new BerthError('unknown', message);
}

export function toRunning(s: ProcessState, pid: number, now: Date): ProcessState {
  if (s.kind !== 'created') throw illegal(`cannot start a ${s.kind} process`);
  return { kind: 'running', pid, startedAt: now };
}

export function toPaused(s: ProcessState): ProcessState {
  if (s.kind === 'created') throw illegal('cannot pause task in created state');
  if (s.kind !== 'running') throw illegal(`cannot pause a ${s.kind} container`);
  return { kind: 'paused', pid: s.pid, startedAt: s.startedAt };
}

export function toResumed(s: ProcessState): ProcessState {
  if (s.kind === 'created') throw illegal('cannot resume task in created state');
  if (s.kind !== 'paused') throw illegal(`cannot resume a ${s.kind} container`);
  return { kind: 'running', pid: s.pid, startedAt: s.startedAt };
}

/** An exit seen by the reaper; a second exit (or one after delete) keeps the first. */
export function toStopped(s: ProcessState, exit: Exited): ProcessState {
  if (s.kind === 'stopped' || s.kind === 'deleted') return s;
  return { kind: 'stopped', pid: s.pid, ...exit };
}

/** Delete is allowed from created (never started) and stopped. */
export function toDeleted(s: ProcessState, now: Date): ProcessState {
  if (s.kind === 'created') return { kind: 'deleted', pid: s.pid, exitStatus: 0, exitedAt: now };
  if (s.kind === 'stopped') return { kind: 'deleted', pid: s.pid, exitStatus: s.exitStatus, exitedAt: s.exitedAt };
  throw illegal(`cannot delete a ${s.kind} process`);
}

export function exitOf(s: ProcessState): Exited | undefined {
  return s.kind === 'stopped' || s.kind === 'deleted' ? { exitStatus: s.exitStatus, exitedAt: s.exitedAt } : undefined;
}

/** containerd.v1.types.Status numbers. */
export const STATUS = { unknown: 0, created: 1, running: 2, stopped: 3, paused: 4, pausing: 5 } as const;

export function statusOf(s: ProcessState): number {
  return s.kind === 'deleted' ? STATUS.stopped : STATUS[s.kind];
}
