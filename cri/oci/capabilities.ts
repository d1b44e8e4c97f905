// Capability names, the default set containerd gives a CRI container, and the add/drop rules of
// the CRI security context (containerd's customopts.WithCapabilities).
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import type { CriCapability, OciCapabilities } from './types.js';

/** Linux capability names by bit number (linux/capability.h, up to kernel 6.x). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** containerd's default set (oci.populateDefaultUnixSpec), in its order. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** A /proc/<pid>/status hex mask (e.g. CapBnd) to names; bits beyond the table are skipped. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The mask a set of names gives (the form /proc/self/status prints), 16 hex digits. */
export function maskFromCapabilities(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) {
    const bit = CAPABILITY_NAMES.indexOf(n);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}

export function capabilitySet(names: readonly string[]): OciCapabilities {
  return { bounding: [...names], effective: [...names], permitted: [...names] };
}

/** CRI names carry no `CAP_` prefix and any case; unknown names are refused. */
function normalize(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITY_NAMES.includes(full)) {
    throw new InvalidArgumentError(`${field}: unknown capability ${JSON.stringify(name)}`);
  }
  return full;
}

/**
 * Applies CRI add/drop on `current`: "ALL" in add gives every capability the daemon holds,
 * "ALL" in drop empties the set; then the named adds, then the named drops (so
 * add [ALL] + drop [CHOWN] is everything but CAP_CHOWN, drop [ALL] + add [X] is just X).
 */
export function applyCapabilityChanges(
  current: readonly string[],
  change: CriCapability | null | undefined,
  daemonCaps: readonly string[],
): string[] {
  if (!change) return [...current];
  const add = change.addCapabilities ?? [];
  const drop = change.dropCapabilities ?? [];
  const isAll = (c: string) => c.trim().toUpperCase() === 'ALL';
  let caps = [...current];
  if (add.some(isAll)) caps = [...daemonCaps];
  if (drop.some(isAll)) caps = [];
  for (const c of add.filter((c) => !isAll(c))) {
    const name = normalize(c, 'capabilities.add_capabilities');
    // runc's capset fails with EPERM for a capability outside its own bounding set: say why here.
    if (!daemonCaps.includes(name)) {
      throw new FailedPreconditionError(`capabilities.add_capabilities: ${name} is not held by the runtime on this host`);
    }
    if (!caps.includes(name)) caps.push(name);
  }
  const dropped = new Set(drop.filter((c) => !isAll(c)).map((c) => normalize(c, 'capabilities.drop_capabilities')));
  return caps.filter((c) => !dropped.has(c));
}
