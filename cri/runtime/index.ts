// cri/runtime: the CRI RuntimeService methods, one file each, each taking the narrow deps it
// needs. cri/service.ts binds them to the gRPC definition.
export { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
export { ContainerLogs, ContainerLog, rfc3339Nano } from './container-log.js';
export { runPodSandbox } from './sandbox-run.js';
export { stopPodSandbox } from './sandbox-stop.js';
export { removePodSandbox } from './sandbox-remove.js';
export { createContainer } from './container-create.js';
export { startContainer } from './container-start.js';
export { stopContainer, parseSignal } from './container-stop.js';
export { removeContainer } from './container-remove.js';
export { containerStatus, podSandboxStatus } from './statuses.js';
export { listContainers, listPodSandbox } from './lists.js';
export { execSync, EXEC_OUTPUT_CAP } from './exec-sync.js';
export { streamingBackend } from './streaming-backend.js';
export { execUrl, attachUrl, portForwardUrl, streamServerAddress } from './streaming-urls.js';
export { containerStats, listContainerStats, podSandboxStats, listPodSandboxStats } from './stats.js';
export { listMetricDescriptors, listPodSandboxMetrics } from './sandbox-metrics.js';
export { version, status, runtimeConfig, runtimeHandlers, updateRuntimeConfig, RUNTIME_NAME } from './runtime-status.js';
export { updateContainerResources, reopenContainerLog } from './container-update.js';
export { updatePodSandboxResources } from './sandbox-update.js';
export { exitDeps } from './exit-deps.js';
export { recoverState } from './recover.js';
export { loadHostProfiles } from './handler.js';
export { toNum, int64 } from './convert.js';
export { buildLocalImage, isLocalImage, LOCAL_PAUSE_IMAGE, LOCAL_BUSYBOX_IMAGE } from './local-image.js';
