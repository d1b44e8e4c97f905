// ContainerStats / ListContainerStats / PodSandboxStats / ListPodSandboxStats, read from the
// cgroups of the running processes (sys/cgroups, v1 or unified alike). A pod's cpu and memory
// are its cgroup parent's when it has one (a cgroupfs path, or the systemd driver's slice name
// expanded as systemd does), else the sum of its pause and container processes. The writable
// layer is the image layer's figure for the container's rw snapshot, at most
// ROOTFS_USAGE_MAX_AGE_MS old (docs/images.md "Disk usage").
import { isKind } from '../../common/index.js';
import type { runtime } from '../../proto/cri-wire.js';
import { readCgroupStats, readCgroupStatsOfPid, resolveCgroupPath, type CgroupStats } from '../../sys/index.js';
import { labelsOf, matchesLabels, nowNanos, type ContainerRecord, type SandboxRecord } from '../store/index.js';
import { annotationsOf, int64 } from './convert.js';
import type { RuntimeDeps } from './deps.js';
import { podNetwork, pruneSamples, swapOfPid, usageNanoCores } from './stats-usage.js';

type Deps = Pick<RuntimeDeps, 'store' | 'images'>;
type ContainerStats = runtime.v1.ContainerStats.$Properties;

/** Each controller at the process's own path for it: hierarchies may place it differently. */
function cgroupStats(pid: number): CgroupStats | undefined {
  if (pid <= 0) return undefined;
  try {
    return readCgroupStatsOfPid(pid);
  } catch (err) {
    if (isKind(err, 'not-found')) return undefined; // exited meanwhile
    throw err;
  }
}

function sum(all: CgroupStats[]): CgroupStats | undefined {
  if (all.length === 0) return undefined;
  const z = (): CgroupStats => ({
    cpu: { usageNs: 0, userNs: 0, systemNs: 0 },
    memory: { usageBytes: 0, workingSetBytes: 0, rssBytes: 0, cacheBytes: 0, inactiveFileBytes: 0, limitBytes: null, pageFaults: 0, majorPageFaults: 0 },
    pids: { current: 0, limit: null },
  });
  return all.reduce((a, s) => {
    a.cpu.usageNs += s.cpu.usageNs;
    a.memory.usageBytes += s.memory.usageBytes;
    a.memory.workingSetBytes += s.memory.workingSetBytes;
    a.memory.rssBytes += s.memory.rssBytes;
    a.memory.pageFaults += s.memory.pageFaults;
    a.memory.majorPageFaults += s.memory.majorPageFaults;
    a.pids.current += s.pids.current;
    return a;
  }, z());
}

function cpuMem(s: CgroupStats | undefined, ts: string): Pick<ContainerStats, 'cpu' | 'memory'> {
  if (!s) return {};
  return {
    cpu: { timestamp: int64(ts), usageCoreNanoSeconds: { value: s.cpu.usageNs } },
    memory: {
      timestamp: int64(ts), workingSetBytes: { value: s.memory.workingSetBytes }, usageBytes: { value: s.memory.usageBytes },
      rssBytes: { value: s.memory.rssBytes }, availableBytes: { value: s.memory.limitBytes !== null ? Math.max(0, s.memory.limitBytes - s.memory.workingSetBytes) : 0 },
      pageFaults: { value: s.memory.pageFaults }, majorPageFaults: { value: s.memory.majorPageFaults },
    },
  };
}

async function writableLayer(deps: Deps, id: string): Promise<ContainerStats['writableLayer']> {
  const m = await deps.images.rootfsUsage(id);
  if (!m) return undefined;
  return {
    timestamp: int64((BigInt(m.at) * 1_000_000n).toString()), fsId: { mountpoint: deps.images.snapshots.dir },
    usedBytes: { value: m.usage.bytes }, inodesUsed: { value: m.usage.inodes },
  };
}

const attributes = (r: ContainerRecord | SandboxRecord) => ({
  id: r.id, metadata: { ...r.metadata }, labels: { ...labelsOf(r) }, annotations: annotationsOf(r),
});

/** usage_nano_cores from the previous sample of `id`, and swap where the host has it (stats-usage.ts). */
function withUsage<T extends Pick<ContainerStats, 'cpu'>>(deps: Deps, id: string, out: T): T {
  const cpu = out.cpu;
  // The samples are the daemon's: kept per store (a deps without one, as in unit tests, keeps its own).
  const owner = (deps.store as object | undefined) ?? deps;
  if (cpu?.usageCoreNanoSeconds) cpu.usageNanoCores = { value: usageNanoCores(owner, id, Number(cpu.usageCoreNanoSeconds.value ?? 0)) };
  return out;
}

export async function containerStats(deps: Deps, c: ContainerRecord): Promise<ContainerStats> {
  const ts = nowNanos();
  const wl = await writableLayer(deps, c.id);
  const swap = swapOfPid(c.pid, ts);
  return withUsage(deps, c.id, { attributes: attributes(c), ...cpuMem(cgroupStats(c.pid), ts), ...(wl ? { writableLayer: wl } : {}), ...(swap ? { swap } : {}) });
}

/** A process in the pod's network namespace (the pause process, else a running container); 0 for host-network pods. */
function podNetnsPid(deps: Deps, s: SandboxRecord): number {
  if (s.netnsPath === '') return 0;
  return s.pid > 0 ? s.pid : deps.store.containersOf(s.id).find((c) => c.pid > 0)?.pid ?? 0;
}

export async function listContainerStats(deps: Deps, f: runtime.v1.ContainerStatsFilter.$Properties | null | undefined): Promise<ContainerStats[]> {
  const all = deps.store.containers.list((c) =>
    (!f?.id || c.id === f.id || c.id.startsWith(f.id))
    && (!f?.podSandboxId || c.sandboxId === f.podSandboxId || c.sandboxId.startsWith(f.podSandboxId))
    && matchesLabels(labelsOf(c), f?.labelSelector ?? undefined));
  pruneSamples(deps.store, (id) => deps.store.containers.has(id) || deps.store.sandboxes.has(id));
  return Promise.all(all.map((c) => containerStats(deps, c)));
}

export async function podSandboxStats(deps: Deps, s: SandboxRecord): Promise<runtime.v1.PodSandboxStats.$Properties> {
  const ts = nowNanos();
  const containers = deps.store.containersOf(s.id);
  const perContainer = await Promise.all(containers.map((c) => containerStats(deps, c)));
  const parent = (s.config.linux as { cgroupParent?: string } | undefined)?.cgroupParent;
  let pod: CgroupStats | undefined;
  if (parent) {
    try {
      pod = readCgroupStats(resolveCgroupPath(parent));
    } catch (err) {
      // Gone, or a parent no cgroup path can be made of: the pod's processes are summed instead.
      if (!isKind(err, 'not-found') && !isKind(err, 'invalid-argument')) throw err;
    }
  }
  pod ??= sum([s.pid, ...containers.map((c) => c.pid)].map(cgroupStats).filter((x): x is CgroupStats => x !== undefined));
  const network = podNetwork(podNetnsPid(deps, s), ts);
  return {
    attributes: attributes(s),
    linux: {
      ...withUsage(deps, s.id, cpuMem(pod, ts)), ...(network ? { network } : {}), ...(pod ? { process: { timestamp: int64(ts), processCount: { value: pod.pids.current } } } : {}),
      containers: perContainer,
    },
  };
}

export function listPodSandboxStats(deps: Deps, f: runtime.v1.PodSandboxStatsFilter.$Properties | null | undefined): Promise<runtime.v1.PodSandboxStats.$Properties[]> {
  const all = deps.store.sandboxes.list((s) => (!f?.id || s.id === f.id || s.id.startsWith(f.id)) && matchesLabels(labelsOf(s), f?.labelSelector ?? undefined));
  return Promise.all(all.map((s) => podSandboxStats(deps, s)));
}
