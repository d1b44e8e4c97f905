// RemoveContainer: a running container is killed first (containerd does the same); then its
// task, log writer, spec dir, rootfs snapshot, record and name go. Unknown ids, and containers
// removed meanwhile, are not an error (debug log).
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { faultPoint, isKind } from '../../common/index.js';
import { containerDir } from './container-create.js';
import { stopContainerLocked } from './container-stop.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';
import { releaseRecursiveReadOnly } from './rro-mounts.js';
import { containerEvent } from './sandbox-events.js';

type Deps = Pick<RuntimeDeps, 'store' | 'images' | 'tasks' | 'logs' | 'stops' | 'dirs' | 'locks' | 'log' | 'events'>;

const REMOVE: IdUse = { method: 'RemoveContainer', idKey: 'containerId' };

/** RemoveContainer by id or unique prefix; the caller holds no lock on it. */
export async function removeContainer(deps: Deps, ref: string): Promise<void> {
  const id = knownId(deps.store.containers, ref, deps.log, REMOVE);
  if (id === undefined) return;
  await deps.locks.run(id, async () => {
    if (goneMeanwhile(deps.store.containers, id, deps.log, REMOVE)) return;
    await stopContainerLocked(deps, id, 0);
    faultPoint('remove-container:stopped');
    if (deps.tasks.has(CRI_NAMESPACE, id)) {
      await deps.tasks.delete(CRI_NAMESPACE, id).catch((err: unknown) => {
        if (!isKind(err, 'not-found')) throw err;
      });
    }
    faultPoint('remove-container:task-deleted');
    await deps.logs.finish(id);
    // Both before the record: a daemon stopped in between finds the record and removes again.
    // The rw layer's directory goes after the reply (ImageService.removeRootfs). The container's
    // dir holds its config.json (and the copies of image-defined volumes, removed first, through
    // the thread pool, as they can be large): removed in place (4 syscalls, ~30 µs), where
    // fs.promises.rm makes each of them a trip through the thread pool, 0.5 ms idle and several ms
    // on a busy machine (docs/images.md "Removing a container's layer").
    await rm(path.join(containerDir(deps.dirs, id), 'volumes'), { recursive: true, force: true });
    rmSync(containerDir(deps.dirs, id), { recursive: true, force: true });
    await deps.images.removeRootfs(id);
    faultPoint('remove-container:rootfs-removed');
    await releaseRecursiveReadOnly(deps.dirs, id);
    faultPoint('remove-container:dir-removed');
    const last = deps.store.containers.get(id);
    await deps.store.containers.delete(id);
    faultPoint('remove-container:record-deleted');
    await deps.store.containerNames.releaseById(id);
    deps.log.info({ containerId: id, podSandboxId: last.sandboxId }, 'container removed');
    containerEvent(deps, last, 'deleted');
  });
}
