// Fault injection for the crash tests (docs/crash-safety.md): `BERTH_FAULT=<point>[,<point>]`
// makes the process SIGKILL itself when it reaches one of the named points, the same death as a
// `kill -9` from outside but at a chosen step. The variable is read once, when this module loads;
// with it unset every point is one comparison of a module-level constant.

/**
 * Every point, in the order a pod's life reaches them. A point is named `<call>:<step done>`:
 * the process dies right after that step, before the next one.
 */
export const FAULT_POINTS = [
  'pull:blob-stored', 'pull:layer-unpacked', 'pull:image-recorded',
  'run-pod:name-reserved', 'run-pod:record-created', 'run-pod:netns-made', 'run-pod:network-added',
  'run-pod:rootfs-prepared', 'run-pod:spec-made', 'run-pod:task-created', 'run-pod:task-started', 'run-pod:ready',
  'task:bundle-created', 'task:shim-started', 'task:shim-connected', 'task:created',
  'create-container:name-reserved', 'create-container:rootfs-prepared', 'create-container:dir-made', 'create-container:record-created',
  'start-container:task-created', 'start-container:task-started', 'start-container:record-updated',
  'stop-pod:containers-stopped', 'stop-pod:pause-killed', 'stop-pod:stop-recorded', 'stop-pod:network-torn-down',
  'remove-container:stopped', 'remove-container:task-deleted', 'remove-container:rootfs-removed', 'remove-container:dir-removed',
  'remove-container:record-deleted',
  'remove-pod:marked-removing', 'remove-pod:containers-removed', 'remove-pod:task-deleted', 'remove-pod:rootfs-removed',
  'remove-pod:files-removed', 'remove-pod:network-torn-down', 'remove-pod:record-deleted',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

/** The variable's points, or undefined (the common case: no fault injection at all). */
function armedPoints(value: string | undefined): ReadonlySet<string> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return new Set(value.split(',').map((p) => p.trim()).filter((p) => p !== ''));
}

const ARMED = armedPoints(process.env.BERTH_FAULT);

/** Dies here (SIGKILL, no cleanup, no flush) when BERTH_FAULT names `point`. */
export function faultPoint(point: FaultPoint): void {
  if (ARMED === undefined || !ARMED.has(point)) return;
  process.kill(process.pid, 'SIGKILL');
}
