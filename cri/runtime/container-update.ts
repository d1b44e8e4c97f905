// UpdateContainerResources (new limits into the spec for a CREATED container, into the running
// task via the shim's Update for a RUNNING one) and ReopenContainerLog.
import { readFile, writeFile } from 'node:fs/promises';
import { FailedPreconditionError } from '../../common/index.js';
import type { runtime } from '../../proto/cri.js';
import { toOciResources, updateResources, type CriLinuxContainerResources, type OciSpec } from '../oci/index.js';
import { containerState, type JsonObject } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { toPlain } from './convert.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { hostInfo } from './handler.js';
import { runtime as cri } from '../../proto/cri.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'dirs' | 'locks' | 'logs' | 'config'>;

export function updateContainerResources(deps: Deps, id: string, req: runtime.v1.UpdateContainerResourcesRequest): Promise<void> {
  return deps.locks.run(id, async () => {
    const c = deps.store.containers.get(id);
    const state = containerState(c);
    if (state !== 'CONTAINER_CREATED' && state !== 'CONTAINER_RUNNING') {
      throw new FailedPreconditionError(`container ${id} is in ${state} state: resources can only change while created or running`);
    }
    if (!req.linux) return;
    const resources = toPlain(cri.v1.LinuxContainerResources, req.linux);
    const file = containerSpecPath(deps.dirs, id);
    const spec = JSON.parse(await readFile(file, 'utf8')) as OciSpec;
    const next = updateResources(spec, resources as CriLinuxContainerResources, hostInfo(deps.config));
    if (state === 'CONTAINER_RUNNING') {
      await deps.tasks.update(CRI_NAMESPACE, id, toOciResources(resources as CriLinuxContainerResources, hostInfo(deps.config)));
    }
    await writeFile(file, JSON.stringify(next));
    await deps.store.containers.update(id, (r) => ({ ...r, resources: resources as JsonObject }));
  });
}

export function reopenContainerLog(deps: Deps, id: string): void {
  const c = deps.store.containers.get(id);
  const log = deps.logs.get(id);
  if (containerState(c) !== 'CONTAINER_RUNNING' || !log) throw new FailedPreconditionError(`container ${id} is not running`);
  log.reopen();
}
