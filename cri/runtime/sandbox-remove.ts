// RemovePodSandbox: only for a stopped pod (FailedPrecondition while READY, as containerd).
// Marks the record 'removing' first, so a restart finishes a removal cut short; then removes
// every container, the pause task, rootfs, pod files, netns, record and name. Unknown ids, and
// pods removed meanwhile, are not an error (debug log).
import { FailedPreconditionError, faultPoint, isKind } from '../../common/index.js';
import { isSet, sandboxState } from '../store/index.js';
import { removeContainer } from './container-remove.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { cleanupImageVolumes } from './image-volumes.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';
import { removeSandboxFiles } from './sandbox-files.js';
import { sandboxDeleted } from './sandbox-events.js';
import { teardownNetwork } from './sandbox-network.js';
import { unpinPodNamespaces } from './sandbox-pauseless.js';
import { removePodUserns } from './userns.js';

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'tasks' | 'logs' | 'stops' | 'dirs' | 'locks' | 'log' | 'events' | 'network'>;

const REMOVE: IdUse = { method: 'RemovePodSandbox', idKey: 'podSandboxId' };

/** RemovePodSandbox by id or unique prefix (`force`: even a READY one, for recovery). */
export async function removePodSandbox(deps: Deps, ref: string, opts: { force?: boolean } = {}): Promise<void> {
  const id = knownId(deps.store.sandboxes, ref, deps.log, REMOVE);
  if (id === undefined) return;
  const gone = () => goneMeanwhile(deps.store.sandboxes, id, deps.log, REMOVE);
  const removing = await deps.locks.run(id, async () => {
    if (gone()) return false;
    const s = deps.store.sandboxes.get(id);
    if (!opts.force && s.stage !== 'removing' && sandboxState(s) === 'SANDBOX_READY') {
      throw new FailedPreconditionError(`sandbox ${id} is still running: stop it before removing it`);
    }
    await deps.store.sandboxes.update(id, (r) => (r.stage === 'removing' ? r : { ...r, stage: 'removing' }));
    return true;
  });
  if (!removing) return;
  faultPoint('remove-pod:marked-removing');
  for (const c of deps.store.containersOf(id)) await removeContainer(deps, c.id);
  faultPoint('remove-pod:containers-removed');
  await deps.locks.run(id, async () => {
    if (gone()) return;
    if (deps.tasks.has(CRI_NAMESPACE, id)) {
      await deps.tasks.kill(CRI_NAMESPACE, id, 9, { all: true }).catch(() => undefined);
      // Wait for the exit to be recorded, not for the task to vanish: the exit handler wakes
      // waiters before it deletes the task, so "task gone" would only be seen at the timeout.
      // The delete below waits for the handler's own delete (per-task lock) and then finds
      // nothing (NotFound).
      const stopped = () => !deps.tasks.has(CRI_NAMESPACE, id) || isSet(deps.store.sandboxes.get(id).stoppedAt);
      await deps.stops.wait(id, stopped, 10_000);
      await deps.tasks.delete(CRI_NAMESPACE, id).catch((err: unknown) => {
        if (!isKind(err, 'not-found')) throw err;
      });
    }
    faultPoint('remove-pod:task-deleted');
    if (deps.store.sandboxes.get(id).pauseless) await deps.tasks.stopPodShim(CRI_NAMESPACE, id);
    await deps.logs.finish(id);
    await deps.images.removeRootfs(id);
    await cleanupImageVolumes(deps, id);
    faultPoint('remove-pod:rootfs-removed');
    await removeSandboxFiles(deps.dirs, id);
    faultPoint('remove-pod:files-removed');
    const s = deps.store.sandboxes.get(id);
    await teardownNetwork(deps, s);
    await unpinPodNamespaces(deps, s);
    await removePodUserns(deps.dirs, id);
    faultPoint('remove-pod:network-torn-down');
    await deps.store.sandboxes.delete(id);
    faultPoint('remove-pod:record-deleted');
    await deps.store.sandboxNames.releaseById(id);
    deps.log.info({ podSandboxId: id }, 'pod sandbox removed');
    sandboxDeleted(deps, s);
  });
}
