// User namespaces (NamespaceOption.userns_options) as containerd 2.x takes them (docs/oci-spec.md
// "User namespaces"): NODE (or no option) is the host's, POD is one namespace for the whole pod
// with exactly one uid and one gid mapping that maps container id 0; CONTAINER and TARGET are
// refused, as they are by containerd. The namespace itself is made and pinned by the runtime
// layer; the spec joins it by path and carries the mappings (runc needs them for the ids of the
// files it makes).
import { InvalidArgumentError } from '../../common/index.js';
import { setNamespace } from './default-spec.js';
import type { HostInfo } from './host-info.js';
import type { NamespaceModes } from './namespaces.js';
import type { CriIdMapping, CriNamespaceOption, OciSpec } from './types.js';
import { NAMESPACE_MODE_NAMES, NamespaceMode, enumValue } from './values.js';

export interface IdMap { readonly containerId: number; readonly hostId: number; readonly length: number }
/** A pod's user namespace: its one uid and one gid mapping. */
export interface PodUserns { readonly uid: IdMap; readonly gid: IdMap }

const MAX_ID = 2 ** 32 - 1;

function oneMapping(list: readonly CriIdMapping[] | null | undefined, field: string): IdMap {
  const all = list ?? [];
  if (all.length !== 1) throw new InvalidArgumentError(`${field}: exactly one mapping is supported, got ${all.length}`);
  const m = { containerId: all[0]!.containerId ?? 0, hostId: all[0]!.hostId ?? 0, length: all[0]!.length ?? 0 };
  if (m.length <= 0) throw new InvalidArgumentError(`${field}: mapping length must be positive`);
  if (m.containerId !== 0) throw new InvalidArgumentError(`${field}: the mapping must map container id 0 (it starts at ${m.containerId})`);
  if (m.hostId + m.length - 1 > MAX_ID) throw new InvalidArgumentError(`${field}: host ids ${m.hostId}+${m.length} overflow 32 bits`);
  return m;
}

/** The user namespace a NamespaceOption asks for: undefined for the host's (NODE or none). */
export function readUserns(opts: CriNamespaceOption | null | undefined, field: string): PodUserns | undefined {
  const u = opts?.usernsOptions;
  if (!u) return undefined;
  const mode = enumValue(u.mode, NAMESPACE_MODE_NAMES, `${field}.userns_options.mode`);
  if (mode === NamespaceMode.NODE) {
    if ((u.uids?.length ?? 0) + (u.gids?.length ?? 0) > 0) throw new InvalidArgumentError(`${field}.userns_options: mode NODE takes no mappings`);
    return undefined;
  }
  if (mode !== NamespaceMode.POD) {
    throw new InvalidArgumentError(`${field}.userns_options: mode ${NAMESPACE_MODE_NAMES[mode]} is not supported, use POD or NODE`);
  }
  return { uid: oneMapping(u.uids, `${field}.userns_options.uids`), gid: oneMapping(u.gids, `${field}.userns_options.gids`) };
}

/** A pod in a user namespace may not share the host's network, pid or ipc namespace. */
export function checkPodUserns(userns: PodUserns | undefined, modes: NamespaceModes, field: string): void {
  if (!userns) return;
  for (const k of ['network', 'pid', 'ipc'] as const) {
    if (modes[k] === NamespaceMode.NODE) {
      throw new InvalidArgumentError(`${field}.userns_options: a user namespace cannot be used with the host ${k} namespace`);
    }
  }
}

export const sameUserns = (a: PodUserns | undefined, b: PodUserns | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

const oci = (m: IdMap) => [{ containerID: m.containerId, hostID: m.hostId, size: m.length }];

/** Joins the pod's pinned user namespace at `path`, with its mappings. */
export function applyUserns(spec: OciSpec, userns: PodUserns, path: string): void {
  setNamespace(spec, 'user', { path });
  spec.linux.uidMappings = oci(userns.uid);
  spec.linux.gidMappings = oci(userns.gid);
}

/** Mount flags the kernel locks on a mount seen from a user namespace: a remount may not clear them. */
const LOCKED = ['nosuid', 'nodev', 'noexec', 'noatime', 'ro'] as const;

/**
 * Each bind mount keeps the locked flags of the host mount its source is on (nosuid, nodev,
 * noexec, noatime, ro): runc 1.1.5 remounts a bind with only the flags the spec names, which
 * inside a user namespace fails with EPERM when it would clear one of them (runc 1.2 keeps them
 * itself).
 */
export function keepLockedFlags(spec: OciSpec, host: Pick<HostInfo, 'lookupMount'>): void {
  for (const m of spec.mounts) {
    const opts = m.options ?? [];
    if (m.type !== 'bind' && !opts.includes('bind') && !opts.includes('rbind')) continue;
    let have: string[];
    try {
      have = (host.lookupMount(m.source ?? '').options ?? '').split(',');
    } catch {
      continue; // the source is checked where the mount is made
    }
    const next = [...opts];
    for (const flag of LOCKED) {
      if (!have.includes(flag) || next.includes(flag)) continue;
      if (flag === 'ro') {
        const rw = next.indexOf('rw');
        if (rw >= 0) next.splice(rw, 1);
      }
      next.push(flag);
    }
    m.options = next;
  }
}
