// CRI state after a restart (docs/cri.md), run after the task manager reloaded the shims and
// before the server accepts calls. Assumptions: the store is loaded; `outcomes` lists every task
// found in the state dir; exit handling waits until this has finished, so logs are re-attached
// to reloaded FIFOs before any exited task is deleted (no output line is lost).
//
//   container RUNNING, task alive          -> logs re-attached; the armed Wait reports its exit
//   container CREATED, task alive running  -> StartedAt = now, pid (start finished while down)
//   container CREATED, task only created   -> task deleted; stays CREATED
//   container RUNNING, shim dead           -> exit from `<shim> delete` (else 255), reason Unknown
//   container RUNNING, no task at all      -> FinishedAt = now, 255, reason Unknown
//   sandbox READY, no task                 -> NOTREADY; sandbox 'removing' -> removal finished
//   pause-less pod, its pod shim answered  -> stays READY (its pinned namespaces are its state)
//   pause-less pod, pod shim gone          -> NOTREADY, as a pod whose pause task is gone
//   pod shim of no READY pod               -> let go of (it exits with its last task)
//   pod network not READY-and-running      -> CNI DEL + netns unpinned (recoverNetworks)
//   container CREATED, shim dead           -> stays CREATED (a start cut short; the retry starts it)
//   task no record knows                   -> killed and deleted
//   staged rro mounts of a container not CREATED (or gone) -> released (rro-mounts.ts)
//   image volumes of a pod not READY        -> unmounted, views released (image-volumes.ts)
//   user namespace pins of unknown pods     -> unmounted (userns.ts)
//   name, rw snapshot, dirs without record -> removed (recover-leftovers.ts)
import { isKind } from '../../common/index.js';
import type { ReloadOutcome, TaskHandle } from '../../taskmanager/index.js';
import { containerState, isSet, nanosFromDate, nowNanos } from '../store/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { recoverImageVolumes } from './image-volumes.js';
import { removeLeftovers } from './recover-leftovers.js';
import { releaseStaleRecursiveReadOnly } from './rro-mounts.js';
import { removePodSandbox } from './sandbox-remove.js';
import { unpinPodNamespaces } from './sandbox-pauseless.js';
import { recoverPodUserns } from './userns.js';

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'tasks' | 'logs' | 'stops' | 'dirs' | 'locks' | 'log' | 'events' | 'network'>;

async function reattach(deps: Deps, id: string, task: TaskHandle): Promise<void> {
  const log = deps.log.child({ containerId: id });
  if (deps.store.sandboxes.has(id)) {
    deps.logs.open(id, '', task);
    return;
  }
  if (!deps.store.containers.has(id)) {
    log.warn('reload: task without a CRI record; killing and deleting it');
    deps.logs.open(id, '', task);
    await deps.tasks.kill(CRI_NAMESPACE, id, 9, { all: true }).catch(() => undefined);
    return; // its exit deletes the task (handleExit ignores ids it does not know, so delete here too)
  }
  const c = deps.store.containers.get(id);
  deps.logs.open(id, c.logPath, task);
  if (containerState(c) !== 'CONTAINER_CREATED') return;
  const st = await deps.tasks.state(CRI_NAMESPACE, id);
  if (st.status === 'created') {
    await deps.tasks.delete(CRI_NAMESPACE, id);
    await deps.logs.finish(id);
    return;
  }
  await deps.store.containers.update(id, (r) => ({ ...r, pid: task.pid, startedAt: nowNanos() }));
}

/**
 * Keeps the network of every pod whose RunPodSandbox finished and that was neither stopped nor
 * being removed; everything else (setup or teardown cut short, pods stopped or removed while the
 * daemon died) is DELeted and unpinned. Torn-down pods are NOTREADY from then on.
 */
async function recoverNetworks(deps: Deps): Promise<void> {
  const keep = deps.store.sandboxes.list().filter((s) => s.stage === 'complete' && !isSet(s.stoppedAt)).map((s) => s.id);
  const report = await deps.network.recoverNetworks(keep).catch((err: unknown) => {
    deps.log.error({ err }, 'reload: pod network recovery failed');
    return { kept: [], tornDown: [], failed: [] };
  });
  for (const s of deps.store.sandboxes.list()) {
    if (s.pauseless && !keep.includes(s.id) && s.stage !== 'removing') {
      await unpinPodNamespaces(deps, s).catch((err: unknown) => deps.log.error({ err, podSandboxId: s.id }, 'reload: cannot unpin pod namespaces; StopPodSandbox retries it'));
    }
  }
  for (const { id, error } of report.failed) deps.log.error({ err: error, podSandboxId: id }, 'reload: pod network teardown failed; StopPodSandbox retries it');
  for (const id of report.tornDown) {
    if (!deps.store.sandboxes.has(id)) continue;
    const s = deps.store.sandboxes.get(id);
    if (s.stage !== 'removing' && !isSet(s.stoppedAt)) await deps.store.sandboxes.update(id, (r) => ({ ...r, stoppedAt: nowNanos() }));
  }
  if (report.tornDown.length > 0) deps.log.info({ sandboxes: report.tornDown }, 'reload: unfinished pod networks torn down');
}

export async function recoverState(deps: Deps, outcomes: readonly ReloadOutcome[]): Promise<void> {
  await removeLeftovers(deps);
  const mine = outcomes.filter((o) => o.namespace === CRI_NAMESPACE);
  const alive = new Set<string>();
  for (const o of mine) {
    if (o.kind === 'reloaded') {
      alive.add(o.id);
      await reattach(deps, o.id, o.task).catch((err: unknown) => deps.log.error({ err, id: o.id }, 'reload: cannot recover task'));
    } else if (o.kind === 'pod-shim') {
      if (o.alive) alive.add(o.id);
    } else if (o.kind === 'dead') {
      // A start the crash cut short: the container never ran, nothing exited (as in handleExit).
      if (deps.store.containers.has(o.id) && containerState(deps.store.containers.get(o.id)) === 'CONTAINER_CREATED') continue;
      const exitedAt = nanosFromDate(o.exit.exitedAt);
      await deps.store.recordExit(o.id, { exitCode: o.exit.exitStatus, exitedAt });
    }
  }
  for (const c of deps.store.containers.list()) {
    const state = containerState(c);
    if ((state === 'CONTAINER_RUNNING' || state === 'CONTAINER_UNKNOWN') && !alive.has(c.id)) {
      await deps.store.containers.update(c.id, (r) => ({ ...r, pid: 0, finishedAt: nowNanos(), exitCode: 255, reason: 'Unknown' }));
      deps.log.warn({ containerId: c.id }, 'reload: container lost while berth was down');
    }
  }
  await recoverNetworks(deps);
  await releaseStaleRecursiveReadOnly(deps.dirs, (id) => deps.store.containers.has(id) && containerState(deps.store.containers.get(id)) === 'CONTAINER_CREATED', deps.log);
  for (const s of deps.store.sandboxes.list()) {
    if (s.stage === 'removing') {
      void removePodSandbox(deps, s.id, { force: true }).catch((err: unknown) => deps.log.error({ err, podSandboxId: s.id }, 'cannot finish removal'));
    } else if (!alive.has(s.id) && !isSet(s.stoppedAt)) {
      await deps.store.sandboxes.update(s.id, (r) => ({ ...r, pid: 0, stoppedAt: nowNanos() }));
    }
  }
  for (const o of mine) {
    if (o.kind !== 'pod-shim' || !o.alive) continue;
    const s = deps.store.sandboxes.has(o.id) ? deps.store.sandboxes.get(o.id) : undefined;
    if (s && s.stage !== 'removing' && !isSet(s.stoppedAt)) continue;
    await deps.tasks.stopPodShim(CRI_NAMESPACE, o.id).catch((err: unknown) => deps.log.warn({ err, podSandboxId: o.id }, 'reload: cannot let go of a pod shim'));
  }
  const ready = deps.store.sandboxes.list().filter((s) => s.stage === 'complete' && !isSet(s.stoppedAt)).map((s) => s.id);
  await recoverImageVolumes(deps, new Set(ready)).catch((err: unknown) => deps.log.error({ err }, 'reload: image volume cleanup failed'));
  const known = new Set(deps.store.sandboxes.list().map((s) => s.id));
  await recoverPodUserns(deps.dirs, known).catch((err: unknown) => deps.log.error({ err }, 'reload: user namespace cleanup failed'));
  // Orphan tasks (no record) were sent SIGKILL above: delete them once they exited.
  for (const id of alive) {
    if (deps.store.containers.has(id) || deps.store.sandboxes.has(id)) continue;
    void deps.tasks.wait(CRI_NAMESPACE, id).then(() => deps.tasks.delete(CRI_NAMESPACE, id)).catch((err: unknown) => {
      if (!isKind(err, 'not-found')) deps.log.warn({ err, id }, 'cannot delete orphan task');
    });
  }
}
