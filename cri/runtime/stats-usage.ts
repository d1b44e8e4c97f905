// The parts of ContainerStats / PodSandboxStats that are not one cgroup read (docs/cri.md "Stats"):
// - usage_nano_cores from two samples, as containerd computes it: the cpu time used since the
//   previous sample of the same container or pod divided by the time between them; the first
//   sample of an id answers 0 and is kept. A counter that went back (a restarted container) starts
//   over from the new sample.
// - swap (memory.swap.current / memory.swap.max on v2, memsw minus memory on v1), only where the
//   host has swap (/proc/meminfo SwapTotal > 0) and the cgroup accounts for it.
// - the pod's network counters, read in the pod's network namespace through a process in it
//   (/proc/<pid>/net/dev): eth0 as the default interface and the one listed, as containerd does.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { runtime } from '../../proto/cri-wire.js';
import { cgroupDir, cgroupOfPid, hostHierarchy, parseMax } from '../../sys/index.js';
import { int64 } from './convert.js';

/** The interface containerd reports for a pod (its CNI default). */
const POD_INTERFACE = 'eth0';

interface CpuSample { usageNs: number; atNs: bigint }

/** Previous samples per container or sandbox id; each daemon's store gets its own map. */
const samples = new WeakMap<object, Map<string, CpuSample>>();

/**
 * usage_nano_cores of `id` now that its cumulative cpu time is `usageNs`; `owner` scopes the kept
 * samples (one per daemon). `live` (when given) prunes samples of ids no longer known.
 */
export function usageNanoCores(owner: object, id: string, usageNs: number, atNs = process.hrtime.bigint()): number {
  let byId = samples.get(owner);
  if (!byId) samples.set(owner, (byId = new Map()));
  const prev = byId.get(id);
  byId.set(id, { usageNs, atNs });
  if (!prev || usageNs < prev.usageNs) return 0;
  const dt = Number(atNs - prev.atNs);
  if (dt <= 0) return 0;
  return Math.round(((usageNs - prev.usageNs) / dt) * 1e9);
}

/** Drops the kept samples of ids `known` rejects (removed containers and pods). */
export function pruneSamples(owner: object, known: (id: string) => boolean): void {
  const byId = samples.get(owner);
  if (!byId) return;
  for (const id of byId.keys()) if (!known(id)) byId.delete(id);
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** SwapTotal of /proc/meminfo in bytes (0 without swap). */
export function hostSwapBytes(meminfo = readOr('/proc/meminfo') ?? ''): number {
  const m = /^SwapTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : 0;
}

type SwapUsage = runtime.v1.SwapUsage.$Properties;

/** Swap of the memory cgroup of `pid`; undefined without host swap or swap accounting. */
export function swapOfPid(pid: number, ts: string): SwapUsage | undefined {
  if (pid <= 0 || hostSwapBytes() === 0) return undefined;
  const h = hostHierarchy();
  let dir: string;
  try {
    dir = cgroupDir(cgroupOfPid(pid, 'memory', h), 'memory', h);
  } catch {
    return undefined; // exited meanwhile
  }
  let usage: number;
  let limit: number | null;
  if (h.version === 2) {
    const cur = readOr(path.join(dir, 'memory.swap.current'));
    if (cur === undefined) return undefined;
    usage = Number(cur.trim());
    const max = readOr(path.join(dir, 'memory.swap.max'));
    limit = max === undefined ? null : parseMax(max);
  } else {
    const memsw = readOr(path.join(dir, 'memory.memsw.usage_in_bytes'));
    const mem = readOr(path.join(dir, 'memory.usage_in_bytes'));
    if (memsw === undefined || mem === undefined) return undefined;
    usage = Math.max(0, Number(memsw.trim()) - Number(mem.trim()));
    const mswMax = parseMax(readOr(path.join(dir, 'memory.memsw.limit_in_bytes')) ?? 'max');
    const memMax = parseMax(readOr(path.join(dir, 'memory.limit_in_bytes')) ?? 'max');
    limit = mswMax !== null && memMax !== null && mswMax < 2 ** 62 ? mswMax - memMax : null;
  }
  const available = limit === null ? hostSwapBytes() : limit;
  return { timestamp: int64(ts), swapUsageBytes: { value: usage }, swapAvailableBytes: { value: Math.max(0, available - usage) } };
}

interface InterfaceCounters { name: string; rxBytes: number; rxErrors: number; txBytes: number; txErrors: number }

/** The interfaces of /proc/<pid>/net/dev (the counters of the pid's network namespace). */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs ...
    out.push({ name: m[1]!, rxBytes: f[0] ?? 0, rxErrors: f[2] ?? 0, txBytes: f[8] ?? 0, txErrors: f[10] ?? 0 });
  }
  return out;
}

/** The pod's network usage read through `pid` (a process in the pod's netns); undefined if none. */
export function podNetwork(pid: number, ts: string): runtime.v1.NetworkUsage.$Properties | undefined {
  if (pid <= 0) return undefined;
  const text = readOr(`/proc/${pid}/net/dev`);
  if (text === undefined) return undefined;
  const eth = parseNetDev(text).find((i) => i.name === POD_INTERFACE);
  if (!eth) return undefined;
  const usage = {
    name: eth.name, rxBytes: { value: eth.rxBytes }, rxErrors: { value: eth.rxErrors }, txBytes: { value: eth.txBytes }, txErrors: { value: eth.txErrors },
  };
  return { timestamp: int64(ts), defaultInterface: usage, interfaces: [usage] };
}
