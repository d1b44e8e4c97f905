// UpdateContainerResources (in-place resize) and ReopenContainerLog. A resize follows containerd
// 2.x: the new limits go into the spec (what a CREATED container starts with); a RUNNING
// container's task gets the spec's whole new LinuxResources through the shim's Update (runc
// update). What the kernel refuses (a memory limit below the current usage is EBUSY on cgroup v1)
// fails the call with FAILED_PRECONDITION naming runc's reason; the task is then given the old
// resources again, and the spec and the record keep them, so ContainerStatus.resources always
// says what the cgroup has (docs/cri.md "In-place resize").
import { readFile, writeFile } from 'node:fs/promises';
import { FailedPreconditionError, isKind } from '../../common/index.js';
import type { runtime } from '../../proto/cri-wire.js';
import { appliedResources, updateResources, type CriLinuxContainerResources, type OciSpec } from '../oci/index.js';
import { containerState } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { toPlain } from './convert.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { hostInfo } from './handler.js';
import { runtime as cri } from '../../proto/cri-wire.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'dirs' | 'locks' | 'logs' | 'log' | 'config'>;

export function updateContainerResources(deps: Deps, id: string, req: runtime.v1.UpdateContainerResourcesRequest): Promise<void> {
  return deps.locks.run(id, async () => {
    const c = deps.store.containers.get(id);
    const state = containerState(c);
    if (state !== 'CONTAINER_CREATED' && state !== 'CONTAINER_RUNNING') {
      throw new FailedPreconditionError(`container ${id} is in ${state} state: resources can only change while created or running`);
    }
    if (!req.linux) return;
    const resources = toPlain(cri.v1.LinuxContainerResources, req.linux) as CriLinuxContainerResources;
    const file = containerSpecPath(deps.dirs, id);
    const spec = JSON.parse(await readFile(file, 'utf8')) as OciSpec;
    const next = updateResources(spec, resources, hostInfo(deps.config)); // InvalidArgument for bad values, before anything changes
    if (state === 'CONTAINER_RUNNING') await applyToTask(deps, id, spec, next);
    await writeFile(file, JSON.stringify(next));
    const applied = appliedResources(next);
    await deps.store.containers.update(id, (r) => ({ ...r, resources: { ...applied } }));
    deps.log.info({ containerId: id, resources: applied }, 'container resources updated');
  });
}

/** The task takes `next`, or is put back on `before` and the call fails with the host's reason. */
async function applyToTask(deps: Deps, id: string, before: OciSpec, next: OciSpec): Promise<void> {
  try {
    await deps.tasks.update(CRI_NAMESPACE, id, next.linux.resources ?? {});
  } catch (err) {
    // The task exited meanwhile: the spec alone changes, as containerd does.
    if (isKind(err, 'not-found')) return;
    // runc applies controller by controller: what it set before the failure is undone.
    await deps.tasks.update(CRI_NAMESPACE, id, before.linux.resources ?? {}).catch((e: unknown) => {
      deps.log.warn({ containerId: id, err: e }, 'putting the old resources back after a refused resize failed');
    });
    const reason = err instanceof Error ? err.message : String(err);
    throw new FailedPreconditionError(`container ${id}: the host refused the new resources (the old ones stay applied): ${reason}`, { cause: err });
  }
}

export function reopenContainerLog(deps: Deps, id: string): void {
  const c = deps.store.containers.get(id);
  const log = deps.logs.get(id);
  if (containerState(c) !== 'CONTAINER_RUNNING' || !log) throw new FailedPreconditionError(`container ${id} is not running`);
  log.reopen();
}
