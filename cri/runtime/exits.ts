// The CRI side of exits (events.md §5): the task manager's exit monitor hands every recorded
// exit here. For a container or pause init process: finish its log, record FinishedAt/ExitCode
// (only the first time), wake Stop callers, emit STOPPED, then delete its task (NotFound
// tolerated).
// Exec exits never touch container state. TaskOOM sets reason OOMKilled. A failure throws, and
// the monitor retries it with backoff, per id, in order.
import { isKind } from '../../common/index.js';
import type { ForwardedEvent, TaskExit } from '../../taskmanager/index.js';
import { nanosFromDate } from '../store/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { containerEvent, sandboxStopped } from './sandbox-events.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'logs' | 'stops' | 'starting' | 'log' | 'events'>;

export async function handleExit(deps: Deps, exit: Readonly<TaskExit>): Promise<void> {
  if (exit.namespace !== CRI_NAMESPACE || exit.id !== exit.containerId) return;
  const id = exit.containerId;
  const isContainer = deps.store.containers.has(id);
  if (!isContainer && !deps.store.sandboxes.has(id)) return; // not ours (or already removed)
  await deps.starting.run(id, () => undefined); // a start in flight records STARTED first
  await deps.logs.finish(id);
  // Recorded (and announced) before the task is deleted: the exit is final, and the delete (runc
  // delete + rootfs unmount in the shim, 30-100 ms) only cleans up. Anything that needs the task
  // gone (RemoveContainer, StopPodSandbox) deletes it too, under the task manager's per-task lock,
  // so it waits for this delete and then finds the task gone. A daemon killed in between finds
  // the exited task on restart and runs this again (the exit is recorded only once).
  const r = await deps.store.recordExit(id, { exitCode: exit.exitStatus, exitedAt: nanosFromDate(exit.exitedAt) });
  deps.log.info({ [isContainer ? 'containerId' : 'podSandboxId']: id, exitStatus: exit.exitStatus, recorded: r.recorded }, 'task exit recorded');
  deps.stops.notify(id);
  if (r.recorded && r.target === 'container') containerEvent(deps, deps.store.containers.get(id), 'stopped');
  if (r.recorded && r.target === 'sandbox') sandboxStopped(deps, deps.store.sandboxes.get(id));
  if (deps.tasks.has(CRI_NAMESPACE, id)) {
    await deps.tasks.delete(CRI_NAMESPACE, id).catch((err: unknown) => {
      if (!isKind(err, 'not-found')) throw err;
    });
  }
}

/** Forwarded shim events the CRI acts on: /tasks/oom. */
export async function handleTaskEvent(deps: Pick<Deps, 'store' | 'log'>, ev: ForwardedEvent): Promise<void> {
  if (ev.namespace !== CRI_NAMESPACE || ev.event.topic !== '/tasks/oom') return;
  const id = ev.event.event.containerId ?? '';
  if (await deps.store.recordOOM(id)) deps.log.warn({ containerId: id }, 'container OOM killed');
}
