// Pod sysctls: only namespaced ones, and only when the pod has its own namespace for them
// (runc refuses the rest at create time; berth says which field is wrong before that).
import { InvalidArgumentError } from '../../common/index.js';

const IPC_SYSCTLS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax',
  'kernel.shmmni', 'kernel.shm_rmid_forced',
]);
const UTS_SYSCTLS = new Set(['kernel.hostname', 'kernel.domainname']);

export interface SysctlNamespaces { hostNetwork: boolean; hostIpc: boolean }

export function validateSysctls(sysctls: Record<string, string> | null | undefined, ns: SysctlNamespaces): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawKey, value] of Object.entries(sysctls ?? {})) {
    // kubelet may write keys with '/' separators (net/ipv4/ip_forward)
    const key = rawKey.includes('/') && !rawKey.includes('.') ? rawKey.replace(/\//g, '.') : rawKey;
    if (!/^[a-z0-9_]+(\.[a-z0-9_\-/]+)+$/i.test(key)) throw new InvalidArgumentError(`sysctls: ${JSON.stringify(rawKey)} is not a sysctl name`);
    if (key.startsWith('net.')) {
      if (ns.hostNetwork) throw new InvalidArgumentError(`sysctls: ${key} cannot be set for a pod on the host network`);
    } else if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
      if (ns.hostIpc) throw new InvalidArgumentError(`sysctls: ${key} cannot be set for a pod in the host IPC namespace`);
    } else if (UTS_SYSCTLS.has(key)) {
      if (ns.hostNetwork) throw new InvalidArgumentError(`sysctls: ${key} cannot be set for a pod in the host UTS namespace`);
    } else {
      throw new InvalidArgumentError(`sysctls: ${key} is not a namespaced sysctl and would change the whole host`);
    }
    out[key] = value;
  }
  return out;
}
