// Building and emitting GetContainerEvents entries. Like containerd, a sandbox reports STARTED /
// STOPPED / DELETED under its own id; containers report all four types. Every event carries the
// pod's status and the ContainerStatus of every container of the pod as they are AFTER the change
// (kubelet's EventedPLEG builds the whole pod status from the event alone: docs/cri.md "Evented
// PLEG"). The record that changed is the one passed in, so it wins over the store's copy.
import { runtime } from '../../proto/cri-wire.js';
import { nowNanos, type ContainerRecord, type SandboxRecord } from '../store/index.js';
import { containerStatusMessage, int64, sandboxStatusMessage } from './convert.js';
import type { RuntimeDeps } from './deps.js';

const T = runtime.v1.ContainerEventType;
type Deps = Pick<RuntimeDeps, 'events' | 'store'>;

/** The pod's containers as they stand, `changed` in place of its stored copy; `gone` left out. */
export function podContainers(deps: Pick<RuntimeDeps, 'store'>, sandboxId: string, changed?: ContainerRecord, gone?: string): ContainerRecord[] {
  const out = deps.store.containersOf(sandboxId).filter((c) => c.id !== gone).map((c) => (changed && c.id === changed.id ? changed : c));
  if (changed && changed.id !== gone && !out.some((c) => c.id === changed.id)) out.push(changed);
  return out;
}

/** `containers` is only called when someone listens. */
function emit(deps: Deps, containerId: string, type: runtime.v1.ContainerEventType, sandbox: SandboxRecord | undefined, containers: () => ContainerRecord[]): void {
  if (deps.events.size === 0) return;
  deps.events.emit({
    containerId, containerEventType: type, createdAt: int64(nowNanos()),
    ...(sandbox ? { podSandboxStatus: sandboxStatusMessage(sandbox) } : {}),
    containersStatuses: containers().map(containerStatusMessage),
  });
}

const sandboxOf = (deps: Deps, id: string): SandboxRecord | undefined => (deps.store.sandboxes.has(id) ? deps.store.sandboxes.get(id) : undefined);

export const sandboxStarted = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_STARTED_EVENT, s, () => podContainers(deps, s.id));
export const sandboxStopped = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_STOPPED_EVENT, s, () => podContainers(deps, s.id));
/** Sent once its containers are removed (RemovePodSandbox removes them first): no statuses left. */
export const sandboxDeleted = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_DELETED_EVENT, s, () => []);

/** A container event: the pod's status and the statuses of all the pod's containers after the change. */
export function containerEvent(deps: Deps, c: ContainerRecord, type: 'created' | 'started' | 'stopped' | 'deleted'): void {
  const t = { created: T.CONTAINER_CREATED_EVENT, started: T.CONTAINER_STARTED_EVENT, stopped: T.CONTAINER_STOPPED_EVENT, deleted: T.CONTAINER_DELETED_EVENT }[type];
  emit(deps, c.id, t, sandboxOf(deps, c.sandboxId), () => (type === 'deleted' ? podContainers(deps, c.sandboxId, undefined, c.id) : podContainers(deps, c.sandboxId, c)));
}
