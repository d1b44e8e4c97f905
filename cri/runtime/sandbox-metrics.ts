// ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor metrics kubelet serves on
// /metrics/cadvisor when PodAndContainerStatsFromCRI is on, made from the same figures as
// ListPodSandboxStats (docs/cri.md "CRI metrics"). Values are the wire's integers: seconds are whole
// seconds, as the other runtimes send them. Labels follow cAdvisor's: container ("" for the pod's
// own cgroup, "POD" for the pod's network, which cAdvisor reports on the sandbox), id and name (the
// container or sandbox id), image, namespace and pod; the network metrics add interface, the
// memory failure counters failure_type and scope.
import { runtime } from '../../proto/cri-wire.js';
import { nowNanos, type ContainerRecord, type SandboxRecord } from '../store/index.js';
import { int64 } from './convert.js';
import type { RuntimeDeps } from './deps.js';
import { listPodSandboxStats } from './stats.js';

const T = runtime.v1.MetricType;
type Metric = runtime.v1.Metric.$Properties;
type Stats = runtime.v1.ContainerStats.$Properties;
type Num = { value?: number | Long | null } | null | undefined;
interface Long { toNumber(): number }

const BASE_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

interface Def { name: string; help: string; type: runtime.v1.MetricType; extra?: string[] }

/** Every metric berth reports, in the order it reports them. */
const METRICS: readonly Def[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', type: T.COUNTER },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed', type: T.GAUGE },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: T.GAUGE },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: T.GAUGE },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', type: T.GAUGE },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', type: T.COUNTER, extra: ['failure_type', 'scope'] },
  { name: 'container_processes', help: 'Number of processes running inside the container.', type: T.GAUGE },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', type: T.GAUGE, extra: ['device'] },
  { name: 'container_fs_inodes_total', help: 'Number of available Inodes', type: T.GAUGE, extra: ['device'] },
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received', type: T.COUNTER, extra: ['interface'] },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving', type: T.COUNTER, extra: ['interface'] },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted', type: T.COUNTER, extra: ['interface'] },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting', type: T.COUNTER, extra: ['interface'] },
  { name: 'container_start_time_seconds', help: 'Start time of the container since unix epoch in seconds.', type: T.GAUGE },
];
const DEF = new Map(METRICS.map((d) => [d.name, d]));

export function listMetricDescriptors(): runtime.v1.ListMetricDescriptorsResponse.$Properties {
  return { descriptors: METRICS.map((d) => ({ name: d.name, help: d.help, labelKeys: [...BASE_LABELS, ...(d.extra ?? [])] })) };
}

const num = (v: Num): number | undefined => (v?.value === undefined || v.value === null ? undefined : typeof v.value === 'number' ? v.value : v.value.toNumber());
/** An int64 timestamp as the stats carry it (a decimal string of ns behind the number type), or now. */
const tsOf = (v: number | Long | null | undefined): number => (v === undefined || v === null ? int64(nowNanos()) : (v as number));

class Out {
  readonly metrics: Metric[] = [];
  constructor(readonly base: string[], readonly ts: number) {}
  add(name: string, value: number | undefined, extra: string[] = []): void {
    if (value === undefined) return;
    this.metrics.push({ name, timestamp: this.ts, metricType: DEF.get(name)!.type, labelValues: [...this.base, ...extra], value: { value: Math.max(0, Math.floor(value)) } });
  }
}

function cpuMemory(o: Out, s: Pick<Stats, 'cpu' | 'memory' | 'swap'>): void {
  const cpu = num(s.cpu?.usageCoreNanoSeconds);
  o.add('container_cpu_usage_seconds_total', cpu === undefined ? undefined : cpu / 1e9);
  o.add('container_memory_usage_bytes', num(s.memory?.usageBytes));
  o.add('container_memory_working_set_bytes', num(s.memory?.workingSetBytes));
  o.add('container_memory_rss', num(s.memory?.rssBytes));
  o.add('container_memory_swap', num(s.swap?.swapUsageBytes));
  o.add('container_memory_failures_total', num(s.memory?.pageFaults), ['pgfault', 'container']);
  o.add('container_memory_failures_total', num(s.memory?.majorPageFaults), ['pgmajfault', 'container']);
}

const secondsOf = (nanos: string | undefined): number | undefined => (nanos && nanos !== '0' ? Number(BigInt(nanos) / 1_000_000_000n) : undefined);

function containerMetrics(deps: Pick<RuntimeDeps, 'store'>, s: SandboxRecord, st: Stats): runtime.v1.ContainerMetrics.$Properties | undefined {
  const id = st.attributes?.id ?? '';
  if (!deps.store.containers.has(id)) return undefined;
  const c: ContainerRecord = deps.store.containers.get(id);
  const o = new Out([c.metadata.name ?? '', id, c.imageRef, id, s.metadata.namespace ?? '', s.metadata.name ?? ''], tsOf(st.cpu?.timestamp ?? st.memory?.timestamp));
  cpuMemory(o, st);
  const fs = st.writableLayer;
  o.add('container_fs_usage_bytes', num(fs?.usedBytes), [fs?.fsId?.mountpoint ?? '']);
  o.add('container_fs_inodes_total', num(fs?.inodesUsed), [fs?.fsId?.mountpoint ?? '']);
  o.add('container_start_time_seconds', secondsOf(c.startedAt));
  return { containerId: id, metrics: o.metrics };
}

export async function listPodSandboxMetrics(deps: Parameters<typeof listPodSandboxStats>[0]): Promise<runtime.v1.ListPodSandboxMetricsResponse.$Properties> {
  const all = await listPodSandboxStats(deps, undefined);
  const podMetrics: runtime.v1.PodSandboxMetrics.$Properties[] = [];
  for (const ps of all) {
    const id = ps.attributes?.id ?? '';
    if (!deps.store.sandboxes.has(id)) continue;
    const s = deps.store.sandboxes.get(id);
    const linux = ps.linux ?? {};
    const ts = tsOf(linux.cpu?.timestamp ?? linux.memory?.timestamp);
    const labels = (container: string) => [container, id, '', id, s.metadata.namespace ?? '', s.metadata.name ?? ''];
    const pod = new Out(labels(''), ts);
    cpuMemory(pod, linux);
    pod.add('container_processes', num(linux.process?.processCount));
    const net = new Out(labels('POD'), linux.network?.timestamp ? tsOf(linux.network.timestamp) : ts);
    for (const i of linux.network?.interfaces ?? []) {
      const name = i.name ?? '';
      net.add('container_network_receive_bytes_total', num(i.rxBytes), [name]);
      net.add('container_network_receive_errors_total', num(i.rxErrors), [name]);
      net.add('container_network_transmit_bytes_total', num(i.txBytes), [name]);
      net.add('container_network_transmit_errors_total', num(i.txErrors), [name]);
    }
    const containers = (linux.containers ?? []).map((st) => containerMetrics(deps, s, st)).filter((m) => m !== undefined);
    podMetrics.push({ podSandboxId: id, metrics: [...pod.metrics, ...net.metrics], containerMetrics: containers });
  }
  return { podMetrics };
}
