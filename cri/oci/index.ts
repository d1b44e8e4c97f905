// cri/oci: CRI config + image config -> OCI runtime spec, as containerd 1.6 makes it. Pure
// functions over their inputs; the only reads are of the host (/proc/self, /dev, mountinfo),
// of the container rootfs' /etc/passwd and /etc/group, and of localhost seccomp profiles.
export { containerSpec, cgroupsPath, type ContainerSpecInput, type RuntimeHandlerOptions, type SandboxFiles } from './container-spec.js';
export { sandboxSpec, SANDBOX_OOM_SCORE_ADJ, SANDBOX_CPU_SHARES, DEFAULT_PAUSE_ARGS, type SandboxSpecInput } from './sandbox-spec.js';
export { appliedResources, readResources, updateResources, toOciResources, restrictOomScoreAdj, type AppliedResources } from './resources.js';
export { validateSysctls } from './sysctls.js';
export type { PodNamespacePaths } from './namespaces.js';
export { readHostInfo, type HostInfo, type MountInfoEntry } from './host-info.js';
export { defaultSeccompProfile } from './seccomp-default.js';
export { Annotation } from './annotations.js';
export { DEFAULT_CAPABILITIES, capabilitiesFromMask } from './capabilities.js';
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './default-spec.js';
export { processArgs } from './process.js';
export { resolveInRoot, readFileInRoot } from './rootfs-reader.js';
export { cleanContainerPath } from './mounts.js';
export { ensureDefaultApparmorProfile, BERTH_APPARMOR_PROFILE } from './apparmor.js';
export { readUserns, checkPodUserns, type IdMap, type PodUserns } from './userns.js';
export type * from './types.js';
