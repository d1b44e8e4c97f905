// Container mounts: containerd's default mounts plus a read-only cgroupfs, then the CRI mounts
// and the pod's files (hosts, resolv.conf, hostname, /dev/shm) as bind mounts, with the
// propagation checks containerd makes on the host mount (customopts.WithMounts).
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import type { HostInfo } from './host-info.js';
import type { SpecLog } from './security.js';
import type { CriMount, OciMount, OciSpec } from './types.js';
import { MOUNT_PROPAGATION_NAMES, MountPropagation, enumValue } from './values.js';

export const CGROUP_MOUNT: Readonly<OciMount> = {
  destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
};

/** A container path as mounts are compared: normalized, without a trailing slash. */
export const cleanContainerPath = (p: string) => path.posix.normalize(p).replace(/(.)\/$/, '$1');
const clean = cleanContainerPath;
const depth = (p: string) => clean(p).split('/').length;

function checkPropagation(hostPath: string, mode: 'shared' | 'shared-or-slave', host: HostInfo): void {
  const info = host.lookupMount(hostPath);
  const opts = info.optional.split(' ');
  const ok = opts.some((o) => o.startsWith('shared:') || (mode === 'shared-or-slave' && o.startsWith('master:')));
  if (!ok) {
    const want = mode === 'shared' ? 'a shared mount' : 'a shared or slave mount';
    throw new FailedPreconditionError(`path ${JSON.stringify(hostPath)} is mounted on ${JSON.stringify(info.mountPoint)} but it is not ${want}`);
  }
}

/**
 * selinux_relabel (kubelet sets it on emptyDir, configMap, secret, projected and downwardAPI
 * volumes whatever the host): ignored where SELinux is off, as containerd ignores it there; refused
 * where SELinux is on, since berth does not relabel (docs/oci-spec.md).
 */
function checkRelabel(dst: string, src: string, host: HostInfo, log: SpecLog): void {
  if (!host.selinuxEnabled) {
    log.debug({ containerPath: dst, hostPath: src }, 'SELinux is not enabled on this host: selinux_relabel ignored');
    return;
  }
  throw new FailedPreconditionError(`mounts: selinux_relabel is set for ${dst}, but berth does not relabel for SELinux (SELinux is enabled on this host)`);
}

/**
 * `ro`, `rw`, or `rro` for recursive_read_only, refused as containerd 2.x refuses it: with a
 * read-write mount, where the handler cannot do it, or with a propagation other than private
 * (a read-only tree that receives new mounts from the host would not stay read-only). The `rro`
 * source is made read-only recursively by cri/runtime/rro-mounts.ts before runc sees the spec.
 */
function readOnlyOption(m: CriMount, propagation: number, dst: string, src: string, rroSupported: boolean): string {
  if (!m.recursiveReadOnly) return m.readonly ? 'ro' : 'rw';
  if (!m.readonly) {
    throw new InvalidArgumentError(`mounts: recursive read-only mount conflicts with RW mount (container_path=${JSON.stringify(dst)}, host_path=${JSON.stringify(src)}): set readonly too`);
  }
  if (!rroSupported) {
    throw new InvalidArgumentError(`mounts: RROUnsupported: runtime handler does not support recursive read-only mounts (host_path=${JSON.stringify(src)})`);
  }
  if (propagation !== MountPropagation.PRIVATE) {
    throw new InvalidArgumentError(`mounts: recursive read-only mount needs private propagation, got ${MOUNT_PROPAGATION_NAMES[propagation] ?? String(propagation)} (container_path=${JSON.stringify(dst)}, host_path=${JSON.stringify(src)})`);
  }
  return 'rro';
}

/** One CRI mount to its OCI bind mount; may set spec.linux.rootfsPropagation. */
function bindMount(m: CriMount, spec: OciSpec, host: HostInfo, log: SpecLog, rroSupported: boolean): OciMount {
  const dst = m.containerPath ?? '';
  const src = m.hostPath ?? '';
  if (!dst.startsWith('/')) throw new InvalidArgumentError(`mounts: container_path ${JSON.stringify(dst)} must be an absolute path`);
  if (!src.startsWith('/')) throw new InvalidArgumentError(`mounts: host_path ${JSON.stringify(src)} for ${dst} must be an absolute path`);
  let real: string;
  try {
    statSync(src);
    real = realpathSync(src);
  } catch (err) {
    throw new InvalidArgumentError(`mounts: host_path ${JSON.stringify(src)} for ${dst} does not exist`, { cause: err });
  }
  if (m.selinuxRelabel) checkRelabel(dst, src, host, log);
  const options = ['rbind'];
  const propagation = enumValue(m.propagation, MOUNT_PROPAGATION_NAMES, `mounts[${dst}].propagation`);
  // An invalid rro request is refused before the host's propagation is looked at.
  const mode = readOnlyOption(m, propagation, dst, src, rroSupported);
  switch (propagation) {
    case MountPropagation.BIDIRECTIONAL:
      checkPropagation(real, 'shared', host);
      options.push('rshared');
      spec.linux.rootfsPropagation = 'rshared';
      break;
    case MountPropagation.HOST_TO_CONTAINER:
      checkPropagation(real, 'shared-or-slave', host);
      options.push('rslave');
      if (spec.linux.rootfsPropagation !== 'rshared' && spec.linux.rootfsPropagation !== 'rslave') {
        spec.linux.rootfsPropagation = 'rslave';
      }
      break;
    default:
      options.push('rprivate');
  }
  options.push(mode);
  return { destination: dst, type: 'bind', source: real, options };
}

/**
 * Replaces spec.mounts: defaults (+ cgroupfs ro) minus those a supplied mount covers (all of
 * /dev/* when /dev itself is supplied), then the CRI mounts and the `extra` pod mounts (a CRI
 * mount wins over an extra one at the same path), shallow paths first. `rroSupported`: the
 * runtime handler does recursive read-only mounts (its Status feature).
 */
export function applyContainerMounts(
  spec: OciSpec, criMounts: readonly CriMount[], extra: readonly CriMount[], host: HostInfo, log: SpecLog, rroSupported = false,
): void {
  const supplied = [...criMounts];
  for (const e of extra) {
    if (!criMounts.some((c) => clean(c.containerPath ?? '') === clean(e.containerPath ?? ''))) supplied.push(e);
  }
  // Array.prototype.sort is stable: equal depths keep their given order.
  supplied.sort((a, b) => depth(a.containerPath ?? '') - depth(b.containerPath ?? ''));
  const covered = new Set(supplied.map((m) => clean(m.containerPath ?? '')));
  const defaults = [...spec.mounts, { ...CGROUP_MOUNT, options: [...(CGROUP_MOUNT.options ?? [])] }].filter((m) => {
    const dst = clean(m.destination);
    return !covered.has(dst) && !(covered.has('/dev') && dst.startsWith('/dev/'));
  });
  const binds = supplied.map((m) => bindMount(m, spec, host, log, rroSupported));
  spec.mounts = [...defaults, ...binds];
}

/** True when a CRI mount already targets `containerPath`. */
export function hasMount(mounts: readonly CriMount[], containerPath: string): boolean {
  return mounts.some((m) => clean(m.containerPath ?? '') === containerPath);
}
