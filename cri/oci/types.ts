// The shapes this layer reads and writes. CRI inputs are structural subsets of the protobufjs
// `runtime.v1` interfaces (same camelCase field names, every field optional or null), so the
// generated `IContainerConfig` / `IPodSandboxConfig` objects can be passed in as they are.
// The OCI side is the subset of the runtime-spec 1.0.2 config.json that berth writes.

/** protobufjs hands int64 fields out as number, Long or (with `longs: String`) string. */
export type Int64 = number | string | { toNumber(): number } | { low: number; high: number };
/** Enums arrive as numbers, or as their names when decoded with `enums: String`. */
export type EnumValue = number | string;

export interface CriKeyValue { key?: string | null; value?: string | null }
export interface CriInt64Value { value?: Int64 | null }

export interface CriIdMapping { hostId?: number | null; containerId?: number | null; length?: number | null }

export interface CriNamespaceOption {
  network?: EnumValue | null;
  pid?: EnumValue | null;
  ipc?: EnumValue | null;
  targetId?: string | null;
  usernsOptions?: { mode?: EnumValue | null; uids?: CriIdMapping[] | null; gids?: CriIdMapping[] | null } | null;
}

export interface CriSecurityProfile {
  profileType?: EnumValue | null;
  localhostRef?: string | null;
}

export interface CriSELinuxOption { user?: string | null; role?: string | null; type?: string | null; level?: string | null }

export interface CriCapability {
  addCapabilities?: string[] | null;
  dropCapabilities?: string[] | null;
}

export interface CriContainerSecurityContext {
  capabilities?: CriCapability | null;
  privileged?: boolean | null;
  namespaceOptions?: CriNamespaceOption | null;
  selinuxOptions?: CriSELinuxOption | null;
  runAsUser?: CriInt64Value | null;
  runAsGroup?: CriInt64Value | null;
  runAsUsername?: string | null;
  readonlyRootfs?: boolean | null;
  supplementalGroups?: Int64[] | null;
  /** Merge (0, default): the image's /etc/group memberships too; Strict (1): only supplemental_groups. */
  supplementalGroupsPolicy?: EnumValue | null;
  apparmorProfile?: string | null;
  seccompProfilePath?: string | null;
  noNewPrivs?: boolean | null;
  maskedPaths?: string[] | null;
  readonlyPaths?: string[] | null;
  seccomp?: CriSecurityProfile | null;
  apparmor?: CriSecurityProfile | null;
}

export interface CriSandboxSecurityContext {
  namespaceOptions?: CriNamespaceOption | null;
  selinuxOptions?: CriSELinuxOption | null;
  runAsUser?: CriInt64Value | null;
  runAsGroup?: CriInt64Value | null;
  readonlyRootfs?: boolean | null;
  supplementalGroups?: Int64[] | null;
  supplementalGroupsPolicy?: EnumValue | null;
  privileged?: boolean | null;
  seccompProfilePath?: string | null;
  seccomp?: CriSecurityProfile | null;
  apparmor?: CriSecurityProfile | null;
}

export interface CriHugepageLimit { pageSize?: string | null; limit?: Int64 | null }

export interface CriLinuxContainerResources {
  cpuPeriod?: Int64 | null;
  cpuQuota?: Int64 | null;
  cpuShares?: Int64 | null;
  memoryLimitInBytes?: Int64 | null;
  oomScoreAdj?: Int64 | null;
  cpusetCpus?: string | null;
  cpusetMems?: string | null;
  hugepageLimits?: CriHugepageLimit[] | null;
  unified?: Record<string, string> | null;
  memorySwapLimitInBytes?: Int64 | null;
}

export interface CriMount {
  containerPath?: string | null;
  hostPath?: string | null;
  readonly?: boolean | null;
  selinuxRelabel?: boolean | null;
  propagation?: EnumValue | null;
  /** Read-only at every level below too (needs readonly and private propagation). */
  recursiveReadOnly?: boolean | null;
  uidMappings?: CriIdMapping[] | null;
  gidMappings?: CriIdMapping[] | null;
}

export interface CriDevice { containerPath?: string | null; hostPath?: string | null; permissions?: string | null }

export interface CriContainerConfig {
  metadata?: { name?: string | null; attempt?: number | null } | null;
  image?: { image?: string | null } | null;
  command?: string[] | null;
  args?: string[] | null;
  workingDir?: string | null;
  envs?: CriKeyValue[] | null;
  mounts?: CriMount[] | null;
  devices?: CriDevice[] | null;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  logPath?: string | null;
  stdin?: boolean | null;
  stdinOnce?: boolean | null;
  tty?: boolean | null;
  linux?: { resources?: CriLinuxContainerResources | null; securityContext?: CriContainerSecurityContext | null } | null;
}

export interface CriPodSandboxConfig {
  metadata?: { name?: string | null; uid?: string | null; namespace?: string | null; attempt?: number | null } | null;
  hostname?: string | null;
  logDirectory?: string | null;
  dnsConfig?: { servers?: string[] | null; searches?: string[] | null; options?: string[] | null } | null;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  linux?: {
    cgroupParent?: string | null;
    securityContext?: CriSandboxSecurityContext | null;
    sysctls?: Record<string, string> | null;
    resources?: CriLinuxContainerResources | null;
  } | null;
}

/** The fields of an OCI image config (`config` object) that the spec uses. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  /** Paths the image declares as volumes (`VOLUME`): the keys matter, the values are empty objects. */
  Volumes?: Record<string, unknown> | null;
}

// ---- OCI runtime spec (subset) ----

export interface OciUser { uid: number; gid: number; umask?: number; additionalGids?: number[]; username?: string }
export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}
export interface OciRlimit { type: string; hard: number; soft: number }
export interface OciProcess {
  terminal?: boolean;
  user: OciUser;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}
export interface OciMount { destination: string; type?: string; source?: string; options?: string[] }
export interface OciNamespace { type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup'; path?: string }
export interface OciDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}
export interface OciDeviceCgroup { allow: boolean; type?: string; major?: number; minor?: number; access?: string }
export interface OciLinuxMemory { limit?: number; reservation?: number; swap?: number; kernel?: number; swappiness?: number; disableOOMKiller?: boolean }
export interface OciLinuxCpu { shares?: number; quota?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number; cpus?: string; mems?: string }
export interface OciHugepageLimit { pageSize: string; limit: number }
export interface OciLinuxResources {
  devices?: OciDeviceCgroup[];
  memory?: OciLinuxMemory;
  cpu?: OciLinuxCpu;
  pids?: { limit: number };
  hugepageLimits?: OciHugepageLimit[];
  unified?: Record<string, string>;
}
export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }
export interface OciSeccompSyscall { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSeccompSyscall[];
}
export interface OciLinux {
  uidMappings?: unknown[];
  gidMappings?: unknown[];
  sysctl?: Record<string, string>;
  resources?: OciLinuxResources;
  cgroupsPath?: string;
  namespaces?: OciNamespace[];
  devices?: OciDevice[];
  seccomp?: OciSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
}
export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}
