// The unified (v2) hierarchy's file formats, as pure parsers, and the systemd cgroup driver's path
// forms (docs/sys.md "cgroups"). sys/cgroups.ts reads files and hands the text here, so these are
// tested on fixture trees with the kernel's formats whatever the host runs.
import path from 'node:path';
import { InvalidArgumentError } from '../common/index.js';

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** A single-value limit file (memory.max, pids.max, memory.swap.max): "max" is null (no limit). */
export function parseMax(text: string): number | null {
  const t = text.trim();
  if (t === 'max') return null;
  const n = Number(t);
  if (t === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`cgroup limit ${JSON.stringify(t)} is neither a number nor "max"`);
  return n;
}

/** cpu.max: "<quota> <period>" in µs, quota "max" for none (as the OCI spec's quota -1). */
export function parseCpuMax(text: string): { quota: number | null; period: number } {
  const [q, p] = text.trim().split(/\s+/);
  const period = Number(p ?? 100_000);
  if (!Number.isFinite(period) || period <= 0) throw new InvalidArgumentError(`cpu.max ${JSON.stringify(text.trim())} has no period`);
  return { quota: parseMax(q ?? 'max'), period };
}

/**
 * cpu.weight (1-10000) back to the v1 cpu.shares (2-262144) the CRI and the OCI spec speak: the
 * inverse of runc's conversion (weight = 1 + (shares - 2) * 9999 / 262142, rounded down), so a
 * shares value runc wrote reads back as the nearest shares that map to the same weight.
 */
export function weightToShares(weight: number): number {
  if (!Number.isInteger(weight) || weight < 1 || weight > 10_000) throw new InvalidArgumentError(`cpu.weight ${weight} is not within 1-10000`);
  return Math.ceil(((weight - 1) * 262_142) / 9999) + 2;
}

/** runc's shares -> cpu.weight conversion (0 = unset stays 0). */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262_142);
}

/** The unified path of a process from /proc/<pid>/cgroup (its `0::<path>` line), or undefined. */
export function unifiedPathOf(procCgroup: string): string | undefined {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return undefined;
}

/**
 * A systemd slice name as its cgroup path, as systemd and runc's systemd driver expand it: each
 * `-` opens a parent slice, `kubepods-burstable-pod12_34.slice` ->
 * `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice`; `-.slice` is the root.
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw new InvalidArgumentError(`${JSON.stringify(slice)} is not a systemd slice name`);
  if (slice === '-.slice') return '/';
  const name = slice.slice(0, -'.slice'.length);
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) {
    throw new InvalidArgumentError(`${JSON.stringify(slice)} is not a valid systemd slice name`);
  }
  let out = '';
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix === '' ? part : `${prefix}-${part}`;
    out += `/${prefix}.slice`;
  }
  return out;
}

/**
 * The cgroup path a runtime's `linux.cgroupsPath` (or a CRI cgroup_parent) names: the systemd
 * form `slice:prefix:name` is the unit `<prefix>-<name>.scope` in the expanded slice (an empty
 * slice is runc's default `system.slice`; a name that is itself a `.slice` is that slice); a bare
 * slice name (kubelet's cgroup_parent with the systemd driver) is its expanded path; any other
 * value is a cgroupfs path, as it is.
 */
export function resolveCgroupPath(p: string): string {
  const parts = p.split(':');
  if (parts.length === 3) {
    const [slice, prefix, name] = parts as [string, string, string];
    const parent = expandSlice(slice === '' ? 'system.slice' : slice);
    if (name.endsWith('.slice')) return path.posix.join(parent, name);
    if (name === '') throw new InvalidArgumentError(`cgroup path ${JSON.stringify(p)} has no unit name`);
    return path.posix.join(parent, prefix === '' ? `${name}.scope` : `${prefix}-${name}.scope`);
  }
  if (parts.length !== 1) throw new InvalidArgumentError(`cgroup path ${JSON.stringify(p)} is neither a path nor slice:prefix:name`);
  if (!p.includes('/') && p.endsWith('.slice')) return expandSlice(p);
  return p;
}
