// CRI LinuxContainerResources -> OCI LinuxResources (containerd's customopts.WithResources),
// UpdateContainerResources on an existing spec, and the oom_score_adj restriction.
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import type { HostInfo } from './host-info.js';
import type { CriLinuxContainerResources, OciLinuxResources, OciSpec } from './types.js';
import { toInt } from './values.js';

/**
 * The host's controllers, and what the config makes of hugepage limits (containerd's
 * `disable_hugetlb_controller`, `tolerate_missing_hugetlb_controller`): `off` drops them,
 * `when-present` (the default) applies them where the hugetlb controller is mounted, `required`
 * refuses them where it is not (docs/oci-spec.md).
 */
export type ResourceHost = Pick<HostInfo, 'hugetlbAvailable' | 'swapAvailable'> & { hugetlbLimits?: 'off' | 'when-present' | 'required' };

function nonNegative(v: CriLinuxContainerResources[keyof CriLinuxContainerResources], field: string): number {
  const n = toInt(v as never, field);
  if (n < 0) throw new InvalidArgumentError(`resources.${field} must not be negative, got ${n}`);
  return n;
}

const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Validates `r` and returns it as numbers (zero = not set). */
export function readResources(r: CriLinuxContainerResources) {
  const quota = toInt(r.cpuQuota, 'cpu_quota');
  if (quota < -1) throw new InvalidArgumentError(`resources.cpu_quota must be -1 (no limit) or more, got ${quota}`);
  const oomScoreAdj = toInt(r.oomScoreAdj, 'oom_score_adj');
  if (oomScoreAdj < -1000 || oomScoreAdj > 1000) throw new InvalidArgumentError(`resources.oom_score_adj must be within [-1000, 1000], got ${oomScoreAdj}`);
  for (const [field, v] of [['cpuset_cpus', r.cpusetCpus], ['cpuset_mems', r.cpusetMems]] as const) {
    if (v && !CPUSET.test(v)) throw new InvalidArgumentError(`resources.${field} ${JSON.stringify(v)} is not a cpu list like "0-2,4"`);
  }
  const hugepages = (r.hugepageLimits ?? []).map((h) => {
    if (!h.pageSize || !/^\d+(KB|MB|GB|TB|PB)$/.test(h.pageSize)) {
      throw new InvalidArgumentError(`resources.hugepage_limits: page_size ${JSON.stringify(h.pageSize ?? '')} is not like "2MB"`);
    }
    return { pageSize: h.pageSize, limit: nonNegative(h.limit, 'hugepage_limits.limit') };
  });
  return {
    period: nonNegative(r.cpuPeriod, 'cpu_period'),
    quota,
    shares: nonNegative(r.cpuShares, 'cpu_shares'),
    memory: nonNegative(r.memoryLimitInBytes, 'memory_limit_in_bytes'),
    swap: nonNegative(r.memorySwapLimitInBytes, 'memory_swap_limit_in_bytes'),
    cpus: r.cpusetCpus ?? '',
    mems: r.cpusetMems ?? '',
    hugepages,
    unified: r.unified ?? {},
    oomScoreAdj,
  };
}

/** Sets the non-zero fields of `r` on `into` (zero means "leave as is"). */
export function applyResources(into: OciLinuxResources, r: CriLinuxContainerResources, host: ResourceHost): OciLinuxResources {
  const v = readResources(r);
  const cpu = { ...(into.cpu ?? {}) };
  const memory = { ...(into.memory ?? {}) };
  if (v.period) cpu.period = v.period;
  if (v.quota) cpu.quota = v.quota;
  if (v.shares) cpu.shares = v.shares;
  if (v.cpus) cpu.cpus = v.cpus;
  if (v.mems) cpu.mems = v.mems;
  if (v.memory) {
    memory.limit = v.memory;
    // swap = memory keeps the container from swapping by default
    if (!v.swap && host.swapAvailable) memory.swap = v.memory;
  }
  if (v.swap && host.swapAvailable) memory.swap = v.swap;
  into.cpu = cpu;
  into.memory = memory;
  const hugetlb = host.hugetlbLimits ?? 'when-present';
  if (hugetlb === 'required' && !host.hugetlbAvailable && v.hugepages.length > 0) {
    throw new FailedPreconditionError('resources.hugepage_limits are set, but the hugetlb cgroup controller is missing on this host '
      + '(set tolerate_missing_hugetlb_controller = true to run without the limits)');
  }
  if (hugetlb !== 'off' && host.hugetlbAvailable && v.hugepages.length > 0) {
    const byPage = new Map((into.hugepageLimits ?? []).map((h) => [h.pageSize, h.limit]));
    for (const h of v.hugepages) byPage.set(h.pageSize, h.limit);
    into.hugepageLimits = [...byPage].map(([pageSize, limit]) => ({ pageSize, limit }));
  }
  if (Object.keys(v.unified).length > 0) into.unified = { ...(into.unified ?? {}), ...v.unified };
  return into;
}

/** The converter on its own: a fresh OCI LinuxResources from CRI resources. */
export function toOciResources(r: CriLinuxContainerResources, host: ResourceHost): OciLinuxResources {
  return applyResources({}, r, host);
}

/** UpdateContainerResources: a new spec whose linux.resources carry the update (input untouched). */
export function updateResources(spec: OciSpec, r: CriLinuxContainerResources, host: ResourceHost): OciSpec {
  const next = structuredClone(spec);
  next.linux.resources = applyResources(next.linux.resources ?? {}, r, host);
  return next;
}

/** restrict_oom_score_adj: never below the daemon's own score (it could not grant less). */
export function restrictOomScoreAdj(wanted: number, daemon: number): number {
  return Math.max(wanted, daemon);
}

/** CRI LinuxContainerResources as plain numbers: what ContainerStatus.resources reports. */
export interface AppliedResources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitInBytes: number;
  memorySwapLimitInBytes: number;
  oomScoreAdj: number;
  cpusetCpus: string;
  cpusetMems: string;
  hugepageLimits: Array<{ pageSize: string; limit: number }>;
  unified: Record<string, string>;
}

/**
 * The resources a spec applies, in CRI terms (containerd's copyResourcesToStatus): read from the
 * spec after every create and update, so ContainerStatus reports what the cgroup was given.
 */
export function appliedResources(spec: OciSpec): AppliedResources {
  const r = spec.linux.resources ?? {};
  return {
    cpuPeriod: r.cpu?.period ?? 0,
    cpuQuota: r.cpu?.quota ?? 0,
    cpuShares: r.cpu?.shares ?? 0,
    memoryLimitInBytes: r.memory?.limit ?? 0,
    memorySwapLimitInBytes: r.memory?.swap ?? 0,
    oomScoreAdj: spec.process.oomScoreAdj ?? 0,
    cpusetCpus: r.cpu?.cpus ?? '',
    cpusetMems: r.cpu?.mems ?? '',
    hugepageLimits: (r.hugepageLimits ?? []).map((h) => ({ pageSize: h.pageSize, limit: h.limit })),
    unified: { ...(r.unified ?? {}) },
  };
}
