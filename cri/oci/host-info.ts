// What the spec rules need to know about the host the daemon runs on. Read once, lazily, from
// /proc and /sys; tests pass their own values instead.
import { existsSync, readFileSync, readdirSync, lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupOfPid, cgroupVersion, readMountInfo, recursiveReadOnlySupported, type MountInfo } from '../../sys/index.js';
import { capabilitiesFromMask } from './capabilities.js';
import type { OciDevice } from './types.js';

/** What the spec rules read of a mount: where it is and its propagation (`shared:1 master:2`). */
export type MountInfoEntry = Pick<MountInfo, 'mountPoint' | 'optional'> & Partial<Pick<MountInfo, 'options'>>;

export interface HostInfo {
  /** Capabilities the daemon can hand out: the names in CapBnd of /proc/self/status. */
  capabilities: readonly string[];
  /** The daemon's own oom_score_adj: no container is given less (restrict_oom_score_adj). */
  oomScoreAdj: number;
  apparmorEnabled: boolean;
  /** Where the kernel lists its loaded AppArmor profiles (`name (mode)` per line). */
  apparmorProfilesFile: string;
  selinuxEnabled: boolean;
  hugetlbAvailable: boolean;
  swapAvailable: boolean;
  hostname: string;
  /**
   * Recursive read-only mounts work: the kernel has mount_setattr(2), with which berth makes an
   * rro mount's tree read-only before runc binds it (docs/oci-spec.md "Recursive read-only mounts").
   */
  recursiveReadOnlyMounts: boolean;
  /** The mount holding `p` (longest mount point that is a prefix of it). */
  lookupMount(p: string): MountInfoEntry;
  /** Every char/block device under /dev, as a privileged container gets them. */
  hostDevices(): OciDevice[];
}

function statusField(status: string, field: string): string {
  const m = new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(status);
  if (!m?.[1]) throw new Error(`/proc/self/status has no ${field}`);
  return m[1];
}

export function findMount<T extends MountInfoEntry>(entries: readonly T[], p: string): T {
  let best: T | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    const inside = mp === '/' || p === mp || p.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    // Later entries stack on top of earlier ones at the same mount point.
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = e;
  }
  if (!best) throw new Error(`no mount found for ${p}`);
  return best;
}

// Linux dev_t encoding (glibc gnu_dev_major/minor) on a 64-bit number held in a double.
export function devMajor(rdev: number): number {
  const hi = Math.floor(rdev / 2 ** 32);
  return ((rdev >>> 8) & 0xfff) | ((hi & ~0xfff) >>> 0);
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

/** A device node to its OCI description, or undefined when `p` is not a char/block device. */
export function deviceFromPath(p: string, containerPath = p): OciDevice | undefined {
  const st = lstatSync(p);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  return {
    type, path: containerPath, major: devMajor(st.rdev), minor: devMinor(st.rdev),
    fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid,
  };
}

// containerd's oci.HostDevices skips these directories and /dev/console.
const SKIPPED_DEV_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

export function listDevices(dir: string, containerDir = dir, top = true): OciDevice[] {
  const out: OciDevice[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const full = path.join(dir, name);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      continue; // vanished while walking
    }
    if (st.isDirectory()) {
      if (top && SKIPPED_DEV_DIRS.has(name)) continue;
      out.push(...listDevices(full, path.join(containerDir, name), false));
      continue;
    }
    if (top && name === 'console') continue;
    const dev = deviceFromPath(full, path.join(containerDir, name));
    if (dev) out.push(dev);
  }
  return out;
}

function readOr(p: string, fallback: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Whether memory.swap can be limited, as containerd asks it: v1 has memory.memsw.* (swap
 * accounting on); v2 has memory.swap.max beside the daemon's own cgroup (the root has none).
 */
function swapControllerAvailable(): boolean {
  if (cgroupVersion() === 1) return existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  try {
    return existsSync(path.join('/sys/fs/cgroup', cgroupOfPid('self', ''), 'memory.swap.max'));
  } catch {
    return false;
  }
}

let cached: HostInfo | undefined;

/** The real host, read on first use and cached (devices and mounts are read at each call). */
export function readHostInfo(): HostInfo {
  if (cached) return cached;
  const status = readFileSync('/proc/self/status', 'utf8');
  cached = {
    capabilities: capabilitiesFromMask(statusField(status, 'CapBnd')),
    oomScoreAdj: Number.parseInt(readOr('/proc/self/oom_score_adj', '0').trim(), 10) || 0,
    apparmorEnabled: readOr('/sys/module/apparmor/parameters/enabled', 'N').trim() === 'Y',
    apparmorProfilesFile: '/sys/kernel/security/apparmor/profiles',
    selinuxEnabled: existsSync('/sys/fs/selinux/enforce'),
    hugetlbAvailable: existsSync('/sys/fs/cgroup/hugetlb') || readOr('/sys/fs/cgroup/cgroup.controllers', '').includes('hugetlb'),
    swapAvailable: swapControllerAvailable(),
    hostname: os.hostname(),
    recursiveReadOnlyMounts: recursiveReadOnlySupported(),
    lookupMount: (p) => findMount(readMountInfo(), p),
    hostDevices: () => listDevices('/dev'),
  };
  return cached;
}
