// Fault injection for the crash tests (docs/crash-safety.md): `BERTH_FAULT=<point>[,<point>]`
// makes the process SIGKILL itself when it reaches one of the named points, the same death as a
// `kill -9` from outside but at a chosen step; `<point>+<ms>` kills that long after the point was
// reached (for a window inside another process's work, such as the shim's `runc create`). The
// variable is read once, when this module loads; with it unset every point is one comparison of a
// module-level constant.

/**
 * Every point, in the order a pod's life reaches them. A point is named `<call>:<step done>`:
 * the process dies right after that step, before the next one.
 */
export const FAULT_POINTS = [
  'pull:blob-stored', 'pull:layer-unpacked', 'pull:image-recorded',
  'run-pod:name-reserved', 'run-pod:record-created', 'run-pod:netns-made', 'run-pod:network-added',
  'run-pod:rootfs-prepared', 'run-pod:spec-made', 'run-pod:task-created', 'run-pod:task-started', 'run-pod:ready',
  'task:bundle-created', 'task:shim-started', 'task:shim-connected', 'task:create-sent', 'task:created',
  'create-container:name-reserved', 'create-container:rootfs-prepared', 'create-container:dir-made', 'create-container:record-created',
  'start-container:task-created', 'start-container:task-started', 'start-container:record-updated',
  'stop-pod:containers-stopped', 'stop-pod:pause-killed', 'stop-pod:stop-recorded', 'stop-pod:network-torn-down',
  'remove-container:stopped', 'remove-container:task-deleted', 'remove-container:rootfs-removed', 'remove-container:dir-removed',
  'remove-container:record-deleted',
  'remove-pod:marked-removing', 'remove-pod:containers-removed', 'remove-pod:task-deleted', 'remove-pod:rootfs-removed',
  'remove-pod:files-removed', 'remove-pod:network-torn-down', 'remove-pod:record-deleted',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

/** The variable's points with their delays (ms), or undefined (the common case: no fault injection at all). */
function armedPoints(value: string | undefined): ReadonlyMap<string, number> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const armed = new Map<string, number>();
  for (const spec of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(.*)\+(\d+)$/.exec(spec);
    armed.set(m ? m[1]! : spec, m ? Number(m[2]) : 0);
  }
  return armed;
}

const ARMED = armedPoints(process.env.BERTH_FAULT);

const die = (): void => {
  process.kill(process.pid, 'SIGKILL');
};

/** Dies here (SIGKILL, no cleanup, no flush), or the given time after, when BERTH_FAULT names `point`. */
export function faultPoint(point: FaultPoint): void {
  if (ARMED === undefined) return;
  const delay = ARMED.get(point);
  if (delay === undefined) return;
  if (delay === 0) die();
  else setTimeout(die, delay);
}
