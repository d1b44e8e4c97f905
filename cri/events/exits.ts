// Exit handling (docs/architecture.md, "One exit"): the task manager's exit monitor hands every
// exit here, and forwarded shim events too (`watchTaskExits`, subscribed before the shims are
// reloaded). For a container or pause init process: finish its log, record FinishedAt/ExitCode
// in the CRI store (only the first time: that is the exit's one durable write), wake Stop
// callers, emit STOPPED, then delete its task (NotFound tolerated). Exec exits never touch
// container state. TaskOOM sets reason OOMKilled. A failure throws, and the monitor retries it
// with backoff, per id, in order.
//
// Why one write is enough: until the task is deleted, its shim keeps the exit (Wait answers it
// again after a restart), and a dead shim's bundle stays until this handler finished; so a daemon
// that stops anywhere before the record is written meets the exit again, and the store's
// "first exit wins" makes the repeat a no-op (docs/taskmanager.md, "Exits").
import { isKind, type KeyedMutex, type Logger } from '../../common/index.js';
import type { ExitMonitor, ForwardedEvent, TaskExit, TaskManager } from '../../taskmanager/index.js';
import { isSet, nanosFromDate, type ContainerRecord, type SandboxRecord, type Store } from '../store/index.js';
import { CRI_NAMESPACE } from './cri-namespace.js';
import type { StopWaiters } from './stop-waiters.js';

/** What exit handling needs; cri/runtime builds it from its deps (`exitDeps`). */
export interface ExitDeps {
  readonly store: Store;
  readonly tasks: Pick<TaskManager, 'has' | 'delete'>;
  /** Drains and closes a task's log once its process exited. */
  readonly logs: { finish(id: string): Promise<void> };
  readonly stops: Pick<StopWaiters, 'notify'>;
  /** Held by StartContainer while it creates and starts a task: STARTED is recorded first. */
  readonly starting: KeyedMutex;
  readonly log: Logger;
  /** Emits CONTAINER_STOPPED for a container or a pod whose exit was just recorded. */
  readonly stopped: (r: { container: ContainerRecord } | { sandbox: SandboxRecord }) => void;
}

export async function handleExit(deps: ExitDeps, exit: Readonly<TaskExit>): Promise<void> {
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
  // A container never started (a StartContainer cut short by a crash, whose task recovery
  // deleted or whose shim was gone) stays CREATED: nothing of it ran, and kubelet's retry starts
  // it (docs/crash-safety.md). A failed start records its own StartError first.
  const neverStarted = isContainer && !isSet(deps.store.containers.get(id).startedAt) && !isSet(deps.store.containers.get(id).finishedAt);
  const r = neverStarted ? { target: 'container', recorded: false } as const
    : await deps.store.recordExit(id, { exitCode: exit.exitStatus, exitedAt: nanosFromDate(exit.exitedAt) });
  deps.log.info({ [isContainer ? 'containerId' : 'podSandboxId']: id, exitStatus: exit.exitStatus, recorded: r.recorded }, 'task exit recorded');
  deps.stops.notify(id);
  if (r.recorded && r.target === 'container') deps.stopped({ container: deps.store.containers.get(id) });
  if (r.recorded && r.target === 'sandbox') deps.stopped({ sandbox: deps.store.sandboxes.get(id) });
  if (deps.tasks.has(CRI_NAMESPACE, id)) {
    await deps.tasks.delete(CRI_NAMESPACE, id).catch((err: unknown) => {
      if (!isKind(err, 'not-found')) throw err;
    });
  }
}

/** Forwarded shim events the CRI acts on: /tasks/oom. */
export async function handleTaskEvent(deps: { store: Store; log: Logger }, ev: ForwardedEvent): Promise<void> {
  if (ev.namespace !== CRI_NAMESPACE || ev.event.topic !== '/tasks/oom') return;
  const id = ev.event.event.containerId ?? '';
  if (await deps.store.recordOOM(id)) deps.log.warn({ containerId: id }, 'container OOM killed');
}

/**
 * Subscribes the CRI to exits and shim events; returns the function that unsubscribes. Called
 * before the shims are reloaded, so no exit reload reports is missed: exits wait for `deps`
 * (settled once recovery has run, so they apply to records that exist, with logs attached), OOM
 * events only for the store.
 */
export function watchTaskExits(
  sources: { exits: ExitMonitor; tasks: Pick<TaskManager, 'onEvent'> }, deps: Promise<ExitDeps>, store: Promise<Store>, log: Logger,
): () => void {
  const unsubscribe = sources.exits.subscribe('cri', async (e) => handleExit(await deps, e));
  const stopEvents = sources.tasks.onEvent(async (ev) => handleTaskEvent({ store: await store, log }, ev));
  return () => {
    unsubscribe();
    stopEvents();
  };
}
