// cgroup detection and the stats the shim's Stats call and the CRI stats calls need. Paths are
// cgroup paths as runc's `linux.cgroupsPath` names them with the cgroupfs driver ("/berth/abc"),
// relative to each hierarchy's root. v1 controllers are found from /proc/self/mountinfo, so
// co-mounted hierarchies (cpu,cpuacct) work too.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { joinWithin, NotFoundError, UnimplementedError } from '../common/index.js';
import { readMountInfo } from './mount.js';

export type CgroupVersion = 1 | 2;

const CGROUP_ROOT = '/sys/fs/cgroup';
const USER_HZ = 100; // cpuacct.stat counts in USER_HZ ticks (100 on every Linux ABI berth runs on)
// v1 reports "no limit" as PAGE_COUNTER_MAX * page size (~2^63); anything this large is unlimited.
const UNLIMITED_V1 = 2 ** 62;

/** Unified (v2) only when /sys/fs/cgroup itself is cgroup2; hybrid and legacy hosts are v1. */
export function cgroupVersion(): CgroupVersion {
  return existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) ? 2 : 1;
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
export function cgroupDir(cgroupPath: string, controller: string, version: CgroupVersion = cgroupVersion()): string {
  return within(version === 2 ? CGROUP_ROOT : v1MountOf(controller), cgroupPath);
}

/** The cgroup path of `pid` for `controller` (v1) or its unified path (v2), from /proc/<pid>/cgroup. */
export function cgroupOfPid(pid: number | 'self', controller = 'memory'): string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (e) {
    throw new NotFoundError(`process ${pid} not found`, { cause: e });
  }
  const v2 = cgroupVersion() === 2;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, ctrls, p] = m as unknown as [string, string, string, string];
    if (v2 ? id === '0' : ctrls.split(',').includes(controller)) return p;
  }
  throw new NotFoundError(`process ${pid} has no ${v2 ? 'unified' : controller} cgroup`);
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
  const t = readText(dir, file).trim();
  if (t === 'max') return null;
  const n = Number(t);
  return n >= UNLIMITED_V1 ? null : n;
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** Reads cpu, memory and pids stats of a cgroup. NotFoundError when the cgroup does not exist. */
export function readCgroupStats(cgroupPath: string, version: CgroupVersion = cgroupVersion()): CgroupStats {
  return version === 2 ? readV2(cgroupPath) : readV1((controller) => cgroupDir(cgroupPath, controller, 1));
}

/**
 * The stats of the cgroups `pid` belongs to. On v1 each controller is read at the process's own
 * path for that controller (/proc/<pid>/cgroup): hierarchies may place one process at different
 * paths (a host that nests only its memory hierarchy, or a process moved in one controller only).
 * NotFoundError when the process or one of its cgroups is gone.
 */
export function readCgroupStatsOfPid(pid: number | 'self', version: CgroupVersion = cgroupVersion()): CgroupStats {
  if (version === 2) return readV2(cgroupOfPid(pid));
  return readV1((controller) => cgroupDir(cgroupOfPid(pid, controller), controller, 1));
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
    },
    pids: { current: readNumber(pids, 'pids.current'), limit: readLimit(pids, 'pids.max') },
  };
}

function readV2(cgroupPath: string): CgroupStats {
  const dir = cgroupDir(cgroupPath, '', 2);
  const cpu = parseFlatKeyed(readText(dir, 'cpu.stat'));
  const ms = parseFlatKeyed(readText(dir, 'memory.stat'));
  const usage = readNumber(dir, 'memory.current');
  const inactiveFile = ms.get('inactive_file') ?? 0;
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
      limitBytes: readLimit(dir, 'memory.max'),
    },
    pids: { current: readNumber(dir, 'pids.current'), limit: readLimit(dir, 'pids.max') },
  };
}
