// Stats: the container's cgroup read by sys/ and packed the way the runc shim answers —
// `io.containerd.cgroups.v1.Metrics` on a v1/hybrid host, `...v2.Metrics` on a unified one.
import { NotFoundError } from '../common/index.js';
import { CGROUPS_V1_METRICS_TYPE_URL, CGROUPS_V2_METRICS_TYPE_URL, packMessage, type AnyProps } from '../proto/index.js';
import { io } from '../proto/metrics.js';
import { cgroupVersion, readCgroupStatsOfPid, type CgroupStats } from '../sys/index.js';
import type { Container } from './container.js';

export type StatsReader = (c: Container) => Promise<AnyProps> | AnyProps;

export function readContainerStats(c: Container): AnyProps {
  const pid = c.init.pid;
  if (pid <= 0 || c.init.state.kind === 'stopped' || c.init.state.kind === 'deleted') {
    throw new NotFoundError('cgroup does not exist: not found');
  }
  const version = cgroupVersion();
  try {
    // Each v1 controller is read at the process's own path (hierarchies may place it differently).
    const stats = readCgroupStatsOfPid(pid, version);
    return version === 1 ? v1Metrics(stats) : v2Metrics(stats);
  } catch (err) {
    throw new NotFoundError('cgroup does not exist: not found', { cause: err });
  }
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
