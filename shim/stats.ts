// Stats: the container's cgroup read by sys/ and packed the way the runc shim answers —
// `io.containerd.cgroups.v1.Metrics` on a v1/hybrid host, `...v2.Metrics` on a unified one.
import { NotFoundError } from '../common/index.js';
import { CGROUPS_V1_METRICS_TYPE_URL, CGROUPS_V2_METRICS_TYPE_URL, io, packMessage, type AnyProps } from '../proto/index.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cgroupDir, cgroupOfPid, cgroupVersion, parseFlatKeyed, readCgroupStats, type CgroupStats } from '../sys/index.js';
import type { Container } from './container.js';

export type StatsReader = (c: Container) => Promise<AnyProps> | AnyProps;

export function readContainerStats(c: Container): AnyProps {
  const pid = c.init.pid;
  if (pid <= 0 || c.init.state.kind === 'stopped' || c.init.state.kind === 'deleted') {
    throw new NotFoundError('cgroup does not exist: not found');
  }
  const version = cgroupVersion();
  try {
    return version === 1 ? v1Metrics(readV1PerController(pid)) : v2Metrics(readCgroupStats(cgroupOfPid(pid), 2));
  } catch (err) {
    throw new NotFoundError('cgroup does not exist: not found', { cause: err });
  }
}

// v1 hierarchies can place one process at different paths per controller (this host nests the
// memory hierarchy under its own cgroup), so each controller is read at the process's own path.
// sys.readCgroupStats takes a single path; this is the small per-controller variant.
function readV1PerController(pid: number): CgroupStats {
  const dir = (controller: string): string => cgroupDir(cgroupOfPid(pid, controller), controller, 1);
  const read = (d: string, file: string): string => readFileSync(path.join(d, file), 'utf8');
  const num = (d: string, file: string): number => Number(read(d, file).trim());
  const limit = (d: string, file: string): number | null => {
    const t = read(d, file).trim();
    return t === 'max' || Number(t) >= 2 ** 62 ? null : Number(t);
  };
  const cpuacct = dir('cpuacct');
  const mem = dir('memory');
  const pids = dir('pids');
  const ticks = parseFlatKeyed(read(cpuacct, 'cpuacct.stat'));
  const ms = parseFlatKeyed(read(mem, 'memory.stat'));
  const usage = num(mem, 'memory.usage_in_bytes');
  const inactiveFile = ms.get('total_inactive_file') ?? 0;
  const USER_HZ = 100;
  return {
    cpu: {
      usageNs: num(cpuacct, 'cpuacct.usage'),
      userNs: ((ticks.get('user') ?? 0) * 1e9) / USER_HZ,
      systemNs: ((ticks.get('system') ?? 0) * 1e9) / USER_HZ,
    },
    memory: {
      usageBytes: usage,
      workingSetBytes: Math.max(0, usage - inactiveFile),
      rssBytes: ms.get('total_rss') ?? 0,
      cacheBytes: ms.get('total_cache') ?? 0,
      inactiveFileBytes: inactiveFile,
      limitBytes: limit(mem, 'memory.limit_in_bytes'),
    },
    pids: { current: num(pids, 'pids.current'), limit: limit(pids, 'pids.max') },
  };
}

function v1Metrics(s: CgroupStats): AnyProps {
  const m = s.memory;
  return packMessage(CGROUPS_V1_METRICS_TYPE_URL, io.containerd.cgroups.v1.Metrics, {
    pids: { current: s.pids.current, limit: s.pids.limit ?? 0 },
    cpu: { usage: { total: s.cpu.usageNs, kernel: s.cpu.systemNs, user: s.cpu.userNs } },
    memory: {
      cache: m.cacheBytes, rss: m.rssBytes, totalCache: m.cacheBytes, totalRss: m.rssBytes,
      inactiveFile: m.inactiveFileBytes, totalInactiveFile: m.inactiveFileBytes,
      usage: { usage: m.usageBytes, limit: m.limitBytes ?? 0 },
    },
  });
}

function v2Metrics(s: CgroupStats): AnyProps {
  const m = s.memory;
  return packMessage(CGROUPS_V2_METRICS_TYPE_URL, io.containerd.cgroups.v2.Metrics, {
    pids: { current: s.pids.current, limit: s.pids.limit ?? 0 },
    cpu: { usageUsec: s.cpu.usageNs / 1000, userUsec: s.cpu.userNs / 1000, systemUsec: s.cpu.systemNs / 1000 },
    memory: { anon: m.rssBytes, file: m.cacheBytes, inactiveFile: m.inactiveFileBytes, usage: m.usageBytes, usageLimit: m.limitBytes ?? 0 },
  });
}
