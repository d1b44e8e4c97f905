// CRI states derived from stored facts, each in ONE function (docs/cri.md, ContainerStatus).
//
//   CreateContainer        StartContainer ok          exit recorded
//   ─────────────▶ CREATED ───────────────▶ RUNNING ────────────────▶ EXITED (final)
//                     │  start failed (128, StartError)                 ▲
//                     └─────────────────────────────────────────────────┘
import { isSet, type ContainerRecord, type SandboxRecord } from './records.js';

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

/**
 * containerd's rule, checked in this order: FinishedAt, StartedAt, CreatedAt (containerd checks
 * an Unknown flag first, which berth never sets: a container lost while it was down is EXITED 255).
 */
export function containerState(r: ContainerRecord): ContainerState {
  if (isSet(r.finishedAt)) return 'CONTAINER_EXITED';
  if (isSet(r.startedAt)) return 'CONTAINER_RUNNING';
  if (isSet(r.createdAt)) return 'CONTAINER_CREATED';
  return 'CONTAINER_UNKNOWN';
}

/** What ContainerStatus reports: the state, the reason (defaulted for EXITED) and the
 *  timestamps the state allows ("0" for the ones it does not). */
export interface ContainerStatusView {
  readonly state: ContainerState;
  readonly reason: string;
  readonly message: string;
  readonly exitCode: number;
  readonly createdAt: string;
  readonly startedAt: string;
  readonly finishedAt: string;
}

export function containerStatusView(r: ContainerRecord): ContainerStatusView {
  const state = containerState(r);
  let reason = r.reason ?? '';
  if (state === 'CONTAINER_EXITED' && reason === '') reason = (r.exitCode ?? 0) === 0 ? 'Completed' : 'Error';
  const showStarted = state !== 'CONTAINER_CREATED';
  const showFinished = state === 'CONTAINER_EXITED' || state === 'CONTAINER_UNKNOWN';
  return {
    state,
    reason,
    message: r.message ?? '',
    exitCode: r.exitCode ?? 0,
    createdAt: r.createdAt,
    startedAt: showStarted && isSet(r.startedAt) ? r.startedAt : '0',
    finishedAt: showFinished && isSet(r.finishedAt) ? r.finishedAt : '0',
  };
}

/** READY only once creation completed and until the pause task stopped; everything else NOTREADY. */
export function sandboxState(r: SandboxRecord): SandboxState {
  return r.stage === 'complete' && isSet(r.readyAt) && !isSet(r.stoppedAt) ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}
