// Building and emitting GetContainerEvents entries. Like containerd 1.7, a sandbox reports
// STARTED / STOPPED / DELETED under its own id; containers report all four types.
import { runtime } from '../../proto/cri.js';
import { nowNanos, type ContainerRecord, type SandboxRecord } from '../store/index.js';
import { containerStatusMessage, int64, sandboxStatusMessage } from './convert.js';
import type { RuntimeDeps } from './deps.js';

const T = runtime.v1.ContainerEventType;
type Deps = Pick<RuntimeDeps, 'events' | 'store'>;

function emit(deps: Deps, containerId: string, type: runtime.v1.ContainerEventType, sandbox: SandboxRecord | undefined, containers: ContainerRecord[]): void {
  if (deps.events.size === 0) return;
  deps.events.emit({
    containerId, containerEventType: type, createdAt: int64(nowNanos()),
    ...(sandbox ? { podSandboxStatus: sandboxStatusMessage(sandbox) } : {}),
    containersStatuses: containers.map(containerStatusMessage),
  });
}

const sandboxOf = (deps: Deps, id: string): SandboxRecord | undefined => (deps.store.sandboxes.has(id) ? deps.store.sandboxes.get(id) : undefined);

export const sandboxStarted = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_STARTED_EVENT, s, deps.store.containersOf(s.id));
export const sandboxStopped = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_STOPPED_EVENT, s, deps.store.containersOf(s.id));
export const sandboxDeleted = (deps: Deps, s: SandboxRecord): void => emit(deps, s.id, T.CONTAINER_DELETED_EVENT, s, []);

/** A container event carrying the pod's status and the container's own status. */
export function containerEvent(deps: Deps, c: ContainerRecord, type: 'created' | 'started' | 'stopped' | 'deleted'): void {
  const t = { created: T.CONTAINER_CREATED_EVENT, started: T.CONTAINER_STARTED_EVENT, stopped: T.CONTAINER_STOPPED_EVENT, deleted: T.CONTAINER_DELETED_EVENT }[type];
  emit(deps, c.id, t, sandboxOf(deps, c.sandboxId), type === 'deleted' ? [] : [c]);
}
