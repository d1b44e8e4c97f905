// cgroup detection and the stats the shim's Stats call and the CRI stats calls need. Paths are
// cgroup paths relative to each hierarchy's root ("/berth/abc"; `resolveCgroupPath` turns the
// systemd driver's `slice:prefix:name` and bare slice names into such paths). v1 controllers are
// found from /proc/self/mountinfo, so co-mounted hierarchies (cpu,cpuacct) work too. A unified
// (v2) tree is `/sys/fs/cgroup` on a unified host; every call also takes another v2 root (the
// cgroup2 mount of a hybrid host, `hybridUnifiedRoot()`, or a fixture tree), the same code path.
// The v2 formats are parsed in cgroups-v2.ts. docs/sys.md "cgroups".
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { joinWithin, NotFoundError, UnimplementedError } from '../common/index.js';
import { parseCpuMax, parseFlatKeyed, parseMax, unifiedPathOf, weightToShares } from './cgroups-v2.js';
import { readMountInfo } from './mount.js';

export type CgroupVersion = 1 | 2;

/** Where a cgroup lives: the v1 hierarchies (from mountinfo), or a unified tree at `root`. */
export type CgroupHierarchy = { readonly version: 1 } | { readonly version: 2; readonly root: string };

const CGROUP_ROOT = '/sys/fs/cgroup';
const USER_HZ = 100; // cpuacct.stat counts in USER_HZ ticks (100 on every Linux ABI berth runs on)
// v1 reports "no limit" as PAGE_COUNTER_MAX * page size (~2^63); anything this large is unlimited.
const UNLIMITED_V1 = 2 ** 62;

/** Unified (v2) only when /sys/fs/cgroup itself is cgroup2; hybrid and legacy hosts are v1. */
export function cgroupVersion(): CgroupVersion {
  return existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) ? 2 : 1;
}

/** The host's hierarchy: the unified tree at /sys/fs/cgroup, or v1 on hybrid and legacy hosts. */
export function hostHierarchy(): CgroupHierarchy {
  return cgroupVersion() === 2 ? { version: 2, root: CGROUP_ROOT } : { version: 1 };
}

/** A hybrid host's cgroup2 mount (systemd puts it at /sys/fs/cgroup/unified), or undefined. */
export function hybridUnifiedRoot(): string | undefined {
  if (cgroupVersion() === 2) return undefined;
  return readMountInfo().find((m) => m.fsType === 'cgroup2')?.mountPoint;
}

function hierarchyOf(at: CgroupVersion | CgroupHierarchy): CgroupHierarchy {
  if (typeof at === 'object') return at;
  return at === 2 ? { version: 2, root: CGROUP_ROOT } : { version: 1 };
}

let v1Mounts: Map<string, string> | undefined;

/** v1: controller name -> hierarchy mount point. */
function v1MountOf(controller: string): string {
  if (!v1Mounts) {
    v1Mounts = new Map();
    for (const m of readMountInfo()) {
      if (m.fsType !== 'cgroup') continue;
      for (const opt of m.superOptions.split(',')) if (!v1Mounts.has(opt)) v1Mounts.set(opt, m.mountPoint);
    }
  }
  const mp = v1Mounts.get(controller);
  if (!mp) throw new UnimplementedError(`cgroup v1 controller ${controller} is not mounted`);
  return mp;
}

function within(root: string, cgroupPath: string): string {
  return path.posix.normalize(`/${cgroupPath}`) === '/' ? root : joinWithin(root, cgroupPath);
}

/** The directory of `cgroupPath` for `controller` (v1) or in the unified tree (v2). */
export function cgroupDir(cgroupPath: string, controller: string, at: CgroupVersion | CgroupHierarchy = hostHierarchy()): string {
  const h = hierarchyOf(at);
  return within(h.version === 2 ? h.root : v1MountOf(controller), cgroupPath);
}

/** The v1 controllers a pod cgroup is made in ahead of its containers (what its stats read). */
const POD_CGROUP_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;

/**
 * Makes `cgroupPath` (a cgroupfs path) where it is missing: in the unified tree on v2, in the
 * cpu, cpuacct, memory and pids hierarchies on v1 (runc makes the rest for the first container).
 * Returns whether anything was made.
 */
export function ensureCgroup(cgroupPath: string, at: CgroupVersion | CgroupHierarchy = hostHierarchy()): boolean {
  const h = hierarchyOf(at);
  let made = false;
  for (const c of h.version === 2 ? [''] : POD_CGROUP_CONTROLLERS) {
    const dir = cgroupDir(cgroupPath, c, h);
    if (existsSync(dir)) continue;
    mkdirSync(dir, { recursive: true });
    made = true;
  }
  return made;
}

/** What removeCgroup did: the dirs removed, and the ones it could not remove with why (EBUSY: processes left). */
export interface CgroupRemoval {
  removed: string[];
  failed: Array<{ dir: string; code: string }>;
}

/**
 * Removes the directory of `cgroupPath` (a cgroupfs path) in every hierarchy mounted (each v1
 * controller, a hybrid host's cgroup2 mount, or the unified tree), as runc does when it deletes a
 * container; a missing one is fine. rmdir removes only an empty cgroup, so a cgroup that still
 * has processes stays (reported in `failed`).
 */
export function removeCgroup(cgroupPath: string): CgroupRemoval {
  const out: CgroupRemoval = { removed: [], failed: [] };
  const roots = cgroupVersion() === 2
    ? [CGROUP_ROOT]
    : [...new Set(readMountInfo().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))];
  for (const root of roots) {
    const dir = within(root, cgroupPath);
    if (dir === root) continue;
    try {
      rmdirSync(dir);
      out.removed.push(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if (code !== 'ENOENT') out.failed.push({ dir, code });
    }
  }
  return out;
}

/**
 * The cgroup path of `pid` for `controller` (v1) or its unified path (v2, also the unified path of
 * a process on a hybrid host when asked with a v2 hierarchy), from /proc/<pid>/cgroup.
 */
export function cgroupOfPid(pid: number | 'self', controller = 'memory', at: CgroupVersion | CgroupHierarchy = hostHierarchy()): string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (e) {
    throw new NotFoundError(`process ${pid} not found`, { cause: e });
  }
  const v2 = hierarchyOf(at).version === 2;
  if (v2) {
    const p = unifiedPathOf(text);
    if (p === undefined) throw new NotFoundError(`process ${pid} has no unified cgroup`);
    return p;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , ctrls, p] = m as unknown as [string, string, string, string];
    if (ctrls.split(',').includes(controller)) return p;
  }
  throw new NotFoundError(`process ${pid} has no ${controller} cgroup`);
}

export interface CgroupStats {
  cpu: { usageNs: number; userNs: number; systemNs: number };
  memory: {
    usageBytes: number;
    /** usage minus inactive file pages: what kubelet evicts on (CRI working_set_bytes). */
    workingSetBytes: number;
    rssBytes: number;
    cacheBytes: number;
    inactiveFileBytes: number;
    /** null when unlimited. */
    limitBytes: number | null;
    /** Page faults and major page faults (memory.stat pgfault/pgmajfault; v1 total_*). */
    pageFaults: number;
    majorPageFaults: number;
  };
  pids: { current: number; limit: number | null };
}

function readText(dir: string, file: string): string {
  try {
    return readFileSync(path.join(dir, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`cgroup file ${path.join(dir, file)} not found`, { cause: e });
    throw e;
  }
}

function readNumber(dir: string, file: string): number {
  return Number(readText(dir, file).trim());
}

/** "max" (v2) or a huge v1 value means no limit. */
function readLimit(dir: string, file: string): number | null {
  const n = parseMax(readText(dir, file));
  return n !== null && n >= UNLIMITED_V1 ? null : n;
}

/**
 * Reads cpu, memory and pids stats of a cgroup (`cgroupPath` as `resolveCgroupPath` gives it).
 * NotFoundError when the cgroup does not exist.
 */
export function readCgroupStats(cgroupPath: string, at: CgroupVersion | CgroupHierarchy = hostHierarchy()): CgroupStats {
  const h = hierarchyOf(at);
  return h.version === 2 ? readV2(cgroupDir(cgroupPath, '', h)) : readV1((controller) => cgroupDir(cgroupPath, controller, h));
}

/**
 * The stats of the cgroups `pid` belongs to. On v1 each controller is read at the process's own
 * path for that controller (/proc/<pid>/cgroup): hierarchies may place one process at different
 * paths (a host that nests only its memory hierarchy, or a process moved in one controller only).
 * NotFoundError when the process or one of its cgroups is gone.
 */
export function readCgroupStatsOfPid(pid: number | 'self', at: CgroupVersion | CgroupHierarchy = hostHierarchy()): CgroupStats {
  const h = hierarchyOf(at);
  if (h.version === 2) return readV2(cgroupDir(cgroupOfPid(pid, '', h), '', h));
  return readV1((controller) => cgroupDir(cgroupOfPid(pid, controller, h), controller, h));
}

function workingSet(usage: number, inactiveFile: number): number {
  return usage > inactiveFile ? usage - inactiveFile : 0;
}

/** `dirOf(controller)`: the cgroup's directory in that controller's hierarchy. */
function readV1(dirOf: (controller: string) => string): CgroupStats {
  const cpuacct = dirOf('cpuacct');
  const mem = dirOf('memory');
  const pids = dirOf('pids');
  const ticks = parseFlatKeyed(readText(cpuacct, 'cpuacct.stat'));
  const ms = parseFlatKeyed(readText(mem, 'memory.stat'));
  const usage = readNumber(mem, 'memory.usage_in_bytes');
  const inactiveFile = ms.get('total_inactive_file') ?? 0;
  return {
    cpu: {
      usageNs: readNumber(cpuacct, 'cpuacct.usage'),
      userNs: ((ticks.get('user') ?? 0) * 1e9) / USER_HZ,
      systemNs: ((ticks.get('system') ?? 0) * 1e9) / USER_HZ,
    },
    memory: {
      usageBytes: usage,
      workingSetBytes: workingSet(usage, inactiveFile),
      rssBytes: ms.get('total_rss') ?? 0,
      cacheBytes: ms.get('total_cache') ?? 0,
      inactiveFileBytes: inactiveFile,
      limitBytes: readLimit(mem, 'memory.limit_in_bytes'),
      pageFaults: ms.get('total_pgfault') ?? 0,
      majorPageFaults: ms.get('total_pgmajfault') ?? 0,
    },
    pids: { current: readNumber(pids, 'pids.current'), limit: readLimit(pids, 'pids.max') },
  };
}

/**
 * `dir`: the cgroup's directory in a unified tree. cpu.stat is always there; memory.* and pids.*
 * only when the parent enables those controllers for it (cgroup.subtree_control): a controller
 * that is not enabled reads as zero use and no limit, as containerd's cgroup2 stats skip it. A
 * missing directory is NotFoundError.
 */
function readV2(dir: string): CgroupStats {
  const cpu = parseFlatKeyed(readText(dir, 'cpu.stat'));
  const optional = (file: string): string | undefined => (existsSync(path.join(dir, file)) ? readText(dir, file) : undefined);
  const ms = parseFlatKeyed(optional('memory.stat') ?? '');
  const current = optional('memory.current');
  const usage = current !== undefined ? Number(current.trim()) : 0;
  const inactiveFile = ms.get('inactive_file') ?? 0;
  const memMax = optional('memory.max');
  const pidsCurrent = optional('pids.current');
  const pidsMax = optional('pids.max');
  return {
    cpu: {
      usageNs: (cpu.get('usage_usec') ?? 0) * 1000,
      userNs: (cpu.get('user_usec') ?? 0) * 1000,
      systemNs: (cpu.get('system_usec') ?? 0) * 1000,
    },
    memory: {
      usageBytes: usage,
      workingSetBytes: workingSet(usage, inactiveFile),
      rssBytes: ms.get('anon') ?? 0,
      cacheBytes: ms.get('file') ?? 0,
      inactiveFileBytes: inactiveFile,
      limitBytes: memMax !== undefined ? parseMax(memMax) : null,
      pageFaults: ms.get('pgfault') ?? 0,
      majorPageFaults: ms.get('pgmajfault') ?? 0,
    },
    pids: {
      current: pidsCurrent !== undefined ? Number(pidsCurrent.trim()) : 0,
      limit: pidsMax !== undefined ? parseMax(pidsMax) : null,
    },
  };
}

/** The limits set on a cgroup, in the OCI spec's (v1) terms; null = no limit or not set. */
export interface CgroupLimits {
  cpuQuota: number | null;
  cpuPeriod: number | null;
  /** cpu.shares (v1), or cpu.weight converted back to shares (v2, `weightToShares`). */
  cpuShares: number | null;
  memoryBytes: number | null;
  pids: number | null;
}

/**
 * What runc wrote from the OCI spec's resources, read back: v1 cpu.cfs_quota_us / cfs_period_us /
 * shares, memory.limit_in_bytes, pids.max; v2 cpu.max, cpu.weight, memory.max, pids.max. A file of
 * a controller not enabled for the cgroup reads as null. berth itself writes none of them.
 */
export function readCgroupLimits(cgroupPath: string, at: CgroupVersion | CgroupHierarchy = hostHierarchy()): CgroupLimits {
  const h = hierarchyOf(at);
  const read = (controller: string, file: string): string | undefined => {
    const dir = cgroupDir(cgroupPath, controller, h);
    if (!existsSync(dir)) throw new NotFoundError(`cgroup ${cgroupPath} not found (${dir})`);
    return existsSync(path.join(dir, file)) ? readText(dir, file) : undefined;
  };
  const orNull = <T>(text: string | undefined, parse: (t: string) => T): T | null => (text === undefined ? null : parse(text));
  if (h.version === 2) {
    const cpuMax = orNull(read('', 'cpu.max'), parseCpuMax);
    return {
      cpuQuota: cpuMax?.quota ?? null, cpuPeriod: cpuMax?.period ?? null,
      cpuShares: orNull(read('', 'cpu.weight'), (t) => weightToShares(Number(t.trim()))),
      memoryBytes: orNull(read('', 'memory.max'), parseMax), pids: orNull(read('', 'pids.max'), parseMax),
    };
  }
  const v1Limit = (t: string) => {
    const n = parseMax(t);
    return n !== null && (n >= UNLIMITED_V1 || n < 0) ? null : n;
  };
  return {
    cpuQuota: orNull(read('cpu', 'cpu.cfs_quota_us'), v1Limit), cpuPeriod: orNull(read('cpu', 'cpu.cfs_period_us'), Number),
    cpuShares: orNull(read('cpu', 'cpu.shares'), Number), memoryBytes: orNull(read('memory', 'memory.limit_in_bytes'), v1Limit),
    pids: orNull(read('pids', 'pids.max'), v1Limit),
  };
}

/** memory.events of a v2 cgroup (oom, oom_kill, max, high, low); empty when memory is not enabled for it. */
export function readMemoryEvents(dir: string): Map<string, number> {
  try {
    return parseFlatKeyed(readFileSync(path.join(dir, 'memory.events'), 'utf8'));
  } catch {
    return new Map();
  }
}

export { parseFlatKeyed };
