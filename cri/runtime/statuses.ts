// ContainerStatus and PodSandboxStatus, with containerd-like verbose info (JSON under "info").
// PodSandboxStatus carries `containers_statuses` (every container of the pod) and `timestamp` (ns,
// when they were read) together, as kubelet's EventedPLEG expects both or neither (docs/cri.md
// "Evented PLEG").
import { readFile } from 'node:fs/promises';
import type { runtime } from '../../proto/cri-wire.js';
import { nowNanos, sandboxState, type ContainerRecord } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { containerStatusMessage, int64, sandboxStatusMessage } from './convert.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { podContainers } from './sandbox-events.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'dirs' | 'config'>;

type ContainerStatusResponse = runtime.v1.ContainerStatusResponse.$Properties;

/** Synchronous unless verbose (which reads the spec): kubelet's polling answers without a hop. */
export function containerStatus(deps: Deps, id: string, verbose: boolean): ContainerStatusResponse | Promise<ContainerStatusResponse> {
  const c = deps.store.containers.get(id);
  const out: ContainerStatusResponse = { status: containerStatusMessage(c) };
  return verbose ? withVerboseInfo(deps, c, out) : out;
}

async function withVerboseInfo(deps: Deps, c: ContainerRecord, out: ContainerStatusResponse): Promise<ContainerStatusResponse> {
  const id = c.id;
  const spec = await readFile(containerSpecPath(deps.dirs, id), 'utf8').then((t) => JSON.parse(t) as unknown, () => null);
  const sandbox = deps.store.sandboxes.has(c.sandboxId) ? deps.store.sandboxes.get(c.sandboxId) : undefined;
  out.info = {
    info: JSON.stringify({
      sandboxID: c.sandboxId, pid: c.pid, removing: false, snapshotKey: `rootfs/${id}`, snapshotter: deps.config.containerd.snapshotter,
      runtimeType: sandbox ? deps.config.containerd.runtimes[sandbox.runtimeHandler]?.runtimeType ?? '' : '',
      hasTask: deps.tasks.has(CRI_NAMESPACE, id), config: c.config, runtimeSpec: spec,
      ...(c.timings ? { timings: c.timings } : {}),
    }),
  };
  return out;
}

export function podSandboxStatus(deps: Deps, id: string, verbose: boolean): runtime.v1.PodSandboxStatusResponse.$Properties {
  const s = deps.store.sandboxes.get(id);
  const containers = podContainers(deps, id);
  const out: runtime.v1.PodSandboxStatusResponse.$Properties = {
    status: sandboxStatusMessage(s), containersStatuses: containers.map(containerStatusMessage), timestamp: int64(nowNanos()),
  };
  if (!verbose) return out;
  const ready = sandboxState(s) === 'SANDBOX_READY';
  out.info = {
    info: JSON.stringify({
      pid: s.pid, processStatus: ready ? 'running' : 'stopped', stage: s.stage, netNamespace: s.netnsPath,
      netNamespaceClosed: !ready, runtimeHandler: s.runtimeHandler,
      runtimeType: deps.config.containerd.runtimes[s.runtimeHandler]?.runtimeType ?? '',
      // A pod without a pause process has no image, rootfs or pid: its pinned namespaces instead.
      ...(s.pauseless
        ? { pauseless: true, shimPid: deps.tasks.podShimPid(CRI_NAMESPACE, id) ?? 0, ipcNamespace: s.pauseless.ipcPath, utsNamespace: s.pauseless.utsPath }
        : { image: deps.config.sandboxImage, snapshotKey: `rootfs/${id}` }),
      config: s.config, containers: containers.map((c) => c.id),
      ...(s.timings ? { timings: s.timings } : {}),
      ...(s.podResources ? { podResources: s.podResources } : {}),
    }),
  };
  return out;
}
