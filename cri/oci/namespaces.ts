// Namespace modes (POD / CONTAINER / NODE / TARGET) to spec.linux.namespaces. Containers join
// the pod's namespaces by /proc/<sandbox pid>/ns/<type>, or by their pinned files in a pod
// without a pause process (docs/cri.md "Pods without a pause process"); a pod on the host gives
// host ones.
import { InvalidArgumentError } from '../../common/index.js';
import { setNamespace } from './default-spec.js';
import type { CriNamespaceOption, OciSpec } from './types.js';
import { NAMESPACE_MODE_NAMES, NamespaceMode, enumValue } from './values.js';

export interface NamespaceModes { network: number; pid: number; ipc: number; targetId: string }

/** The pinned namespace files of a pod without a pause process (a kind absent = the host's). */
export interface PodNamespacePaths { network?: string; ipc?: string; uts?: string }

/**
 * The modes as given. `owner` 'pod' is a PodSandboxConfig's: its pid mode TARGET names no target
 * (containerd ignores target_id there), a container's TARGET must name one.
 */
export function readModes(opts: CriNamespaceOption | null | undefined, field: string, owner: 'pod' | 'container'): NamespaceModes {
  const modes = {
    network: enumValue(opts?.network, NAMESPACE_MODE_NAMES, `${field}.network`),
    pid: enumValue(opts?.pid, NAMESPACE_MODE_NAMES, `${field}.pid`),
    ipc: enumValue(opts?.ipc, NAMESPACE_MODE_NAMES, `${field}.ipc`),
    targetId: opts?.targetId ?? '',
  };
  for (const k of ['network', 'ipc'] as const) {
    if (modes[k] !== NamespaceMode.POD && modes[k] !== NamespaceMode.NODE) {
      throw new InvalidArgumentError(`${field}.${k}: mode ${NAMESPACE_MODE_NAMES[modes[k]]} is not supported, use POD or NODE`);
    }
  }
  if (owner === 'container' && modes.pid === NamespaceMode.TARGET && !modes.targetId) {
    throw new InvalidArgumentError(`${field}.pid: mode TARGET needs target_id`);
  }
  return modes;
}

export const nsPath = (pid: number, type: string) => `/proc/${pid}/ns/${type === 'network' ? 'net' : type}`;

function checkPid(pid: number | undefined, what: string): number {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`${what} must be a running process id, got ${String(pid)}`);
  return pid;
}

/**
 * The pause container: new namespaces except those the pod shares with the host. Its pid
 * namespace is the host's for NODE and its own for every other mode: POD, CONTAINER (what kubelet
 * sends for a pod without hostPID or shareProcessNamespace) and TARGET, as containerd's sandbox
 * spec does (docs/oci-spec.md).
 */
export function applySandboxNamespaces(spec: OciSpec, modes: NamespaceModes, netnsPath: string | undefined): void {
  if (modes.network === NamespaceMode.NODE) {
    setNamespace(spec, 'network', 'host');
    setNamespace(spec, 'uts', 'host');
  } else {
    setNamespace(spec, 'network', netnsPath ? { path: netnsPath } : {});
  }
  if (modes.pid === NamespaceMode.NODE) setNamespace(spec, 'pid', 'host');
  if (modes.ipc === NamespaceMode.NODE) setNamespace(spec, 'ipc', 'host');
}

/**
 * An app container: network, ipc and uts are the pod's (host ones for a host-network or
 * host-ipc pod); pid is the pod's for POD/NODE, a new one for CONTAINER, the target's for TARGET.
 */
export function applyContainerNamespaces(
  spec: OciSpec, pod: NamespaceModes, container: NamespaceModes, sandboxPid: number | undefined, targetPid: number | undefined,
  pinned?: PodNamespacePaths,
): void {
  const join = (type: 'network' | 'ipc' | 'uts' | 'pid', hostMode: boolean) => {
    if (hostMode) return setNamespace(spec, type, 'host');
    if (!pinned) return setNamespace(spec, type, { path: nsPath(checkPid(sandboxPid, 'sandbox pid'), type) });
    // A pause-less pod shares no pid namespace (its own pid mode is not POD): a container asking
    // for the pod's gets one of its own, which is what the pod's mode says it has.
    if (type === 'pid') return setNamespace(spec, 'pid', {});
    const path = pinned[type];
    if (!path) throw new InvalidArgumentError(`${type} mode POD: the pod runs without a pause process and has no ${type} namespace pinned`);
    return setNamespace(spec, type, { path });
  };
  join('network', pod.network === NamespaceMode.NODE);
  join('ipc', pod.ipc === NamespaceMode.NODE);
  join('uts', pod.network === NamespaceMode.NODE);
  switch (container.pid) {
    case NamespaceMode.CONTAINER:
      setNamespace(spec, 'pid', {});
      break;
    case NamespaceMode.TARGET:
      setNamespace(spec, 'pid', { path: nsPath(checkPid(targetPid, `pid target ${container.targetId}`), 'pid') });
      break;
    default:
      join('pid', pod.pid === NamespaceMode.NODE);
  }
}
