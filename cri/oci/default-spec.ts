// The base every CRI spec starts from: containerd's oci.populateDefaultUnixSpec with the changes
// the CRI plugin always makes (WithoutRunMount: no /run tmpfs; WithoutDefaultSecuritySettings:
// no rlimits, no seccomp, no AppArmor profile).
import { DEFAULT_CAPABILITIES, capabilitySet } from './capabilities.js';
import { DEFAULT_PATH_ENV } from './process.js';
import type { OciMount, OciSpec } from './types.js';

export const OCI_VERSION = '1.0.2-dev';

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
}

/** A fresh base spec. `cgroupsPath` defaults to containerd's `/<namespace>/<id>`. */
export function baseSpec(namespace: string, id: string): OciSpec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      args: [],
      env: [DEFAULT_PATH_ENV],
      cwd: '/',
      capabilities: capabilitySet(DEFAULT_CAPABILITIES),
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    mounts: defaultMounts(),
    linux: {
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: `/${namespace}/${id}`,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
    },
  };
}

/** Sets or removes one namespace entry, keeping the order of the others. */
export function setNamespace(spec: OciSpec, type: 'pid' | 'network' | 'ipc' | 'uts' | 'cgroup' | 'user', how: { path?: string } | 'host'): void {
  const list = (spec.linux.namespaces ?? []).filter((n) => n.type !== type);
  if (how !== 'host') {
    const at = (spec.linux.namespaces ?? []).findIndex((n) => n.type === type);
    const entry = how.path ? { type, path: how.path } : { type };
    if (at >= 0) list.splice(at, 0, entry);
    else list.push(entry);
  }
  spec.linux.namespaces = list;
}
