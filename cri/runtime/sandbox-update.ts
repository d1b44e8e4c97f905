// UpdatePodSandboxResources (kubelet >= 1.33, in-place pod resize): kubelet calls it after it has
// written the pod-level cgroup itself, as a best-effort notice (CRI api.proto). containerd 2.x
// hands it to NRI plugins and records the overhead and resources in the sandbox's status; berth,
// without NRI, checks them as CreateContainer checks container resources and records them
// durably on the sandbox (verbose PodSandboxStatus "podResources"); the containers' cgroups
// change through UpdateContainerResources (docs/cri.md "In-place resize").
import type { runtime } from '../../proto/cri-wire.js';
import { runtime as cri } from '../../proto/cri-wire.js';
import { readResources, type CriLinuxContainerResources } from '../oci/index.js';
import { toPlain } from './convert.js';
import type { RuntimeDeps } from './deps.js';

type Deps = Pick<RuntimeDeps, 'store' | 'locks' | 'log'>;

export function updatePodSandboxResources(deps: Deps, id: string, req: runtime.v1.UpdatePodSandboxResourcesRequest): Promise<void> {
  return deps.locks.run(id, async () => {
    deps.store.sandboxes.get(id); // NotFound for an unknown pod
    const overhead = req.overhead ? toPlain(cri.v1.LinuxContainerResources, req.overhead) : undefined;
    const resources = req.resources ? toPlain(cri.v1.LinuxContainerResources, req.resources) : undefined;
    if (overhead) readResources(overhead as CriLinuxContainerResources); // InvalidArgument names the field
    if (resources) readResources(resources as CriLinuxContainerResources);
    await deps.store.sandboxes.update(id, (r) => ({ ...r, podResources: { ...(overhead ? { overhead } : {}), ...(resources ? { resources } : {}) } }));
    deps.log.info({ podSandboxId: id, overhead, resources }, 'pod sandbox resources recorded');
  });
}
