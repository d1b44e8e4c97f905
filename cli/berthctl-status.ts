// berthctl's views of the runtime as a whole: `events` (the GetContainerEvents stream, one line
// per event), `stats` (ListContainerStats / ListPodSandboxStats with CPU % from two samples),
// `version` (berthctl's and the runtime's) and `info` (verbose Status). docs/berthctl.md.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtime, type CriClients } from '../proto/cri.js';
import { plain, printData, printListing, table, type OutputFormat } from './berthctl-output.js';
import { humanBytes } from './berthctl-views.js';

const v1 = runtime.v1;
export const short = (id: string | null | undefined): string => (id ?? '').slice(0, 13);
/** A protobuf int64 (number, Long or string) as a number. */
const num = (v: unknown): number => Number(String(v ?? 0));
const iso = (nanos: unknown): string => new Date(Number(BigInt(String(nanos ?? 0)) / 1_000_000n)).toISOString();

/** Values of a verbose `info` map parsed where they are JSON (containerd puts JSON there). */
export function parseInfo(info: Record<string, string> | null | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(info ?? {}).map(([k, v]) => {
    try {
      return [k, JSON.parse(v) as unknown];
    } catch {
      return [k, v];
    }
  }));
}

/**
 * `<time> CONTAINER_<CREATED|STARTED|STOPPED|DELETED> container <id> <name> pod <id> <namespace>/<name>`;
 * a pod's own events name the pod only. A deleted container is no longer among the statuses the
 * event carries: its name is the one `names` kept from its earlier events ('-' when none was seen).
 */
export function eventLine(e: runtime.v1.ContainerEventResponse, names: Map<string, string> = new Map()): string {
  const type = (v1.ContainerEventType[e.containerEventType] ?? String(e.containerEventType)).replace(/_EVENT$/, '');
  const pod = e.podSandboxStatus;
  const podPart = `pod ${short(pod?.id ?? '')} ${pod?.metadata?.namespace ?? ''}/${pod?.metadata?.name ?? ''}`;
  if (pod?.id === e.containerId) return `${iso(e.createdAt)} ${type} ${podPart}`;
  for (const s of e.containersStatuses) if (s.id && s.metadata?.name) names.set(s.id, s.metadata.name);
  const name = names.get(e.containerId) ?? '-';
  if (e.containerEventType === v1.ContainerEventType.CONTAINER_DELETED_EVENT) names.delete(e.containerId);
  return `${iso(e.createdAt)} ${type} container ${short(e.containerId)} ${name} ${podPart}`;
}

/** Prints GetContainerEvents as it streams (`json`: one JSON object a line) until the daemon ends it. */
export function followEvents(c: CriClients, format: 'text' | 'json'): Promise<void> {
  const stream = c.runtime.GetContainerEvents({});
  const names = new Map<string, string>();
  return new Promise((resolve, reject) => {
    stream.on('data', (e: runtime.v1.ContainerEventResponse) => {
      process.stdout.write(`${format === 'json' ? JSON.stringify(plain(e)) : eventLine(e, names)}\n`);
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
}

type CpuMem = { cpu?: runtime.v1.CpuUsage.$Properties | null; memory?: runtime.v1.MemoryUsage.$Properties | null };
const cpuNanos = (s: CpuMem | null | undefined) => (s?.cpu ? { used: num(s.cpu.usageCoreNanoSeconds?.value), at: num(s.cpu.timestamp) } : undefined);

/** CPU % between two samples of the same id (100 = one core busy), '-' without both. */
function cpuPercent(before: CpuMem | null | undefined, after: CpuMem | null | undefined): string {
  const a = cpuNanos(before);
  const b = cpuNanos(after);
  if (!a || !b || b.at <= a.at) return '-';
  return (Math.max(0, b.used - a.used) / (b.at - a.at) * 100).toFixed(2);
}

const mem = (s: CpuMem | null | undefined) => (s?.memory ? humanBytes(num(s.memory.workingSetBytes?.value)) : '-');

export interface StatsOptions {
  /** Include exited containers / NOTREADY pods. */
  all: boolean;
  /** Seconds between the two samples CPU % is computed from (0: one sample, no CPU %). */
  seconds: number;
  format: OutputFormat;
}

/** `sample()` now and again `seconds` later (once when 0): the first sample (empty when 0) and the last. */
async function twoSamples<T>(seconds: number, sample: () => Promise<T[]>): Promise<[T[], T[]]> {
  if (seconds <= 0) return [[], await sample()];
  const first = await sample();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return [first, await sample()];
}

/** ListContainerStats twice, `seconds` apart: CPU %, memory working set, writable layer. */
export async function containerStatsView(c: CriClients, o: StatsOptions): Promise<void> {
  const [[first, stats], { containers }] = await Promise.all([
    twoSamples(o.seconds, async () => (await c.runtime.ListContainerStats({})).stats), c.runtime.ListContainers({})]);
  const byId = new Map(containers.map((x) => [x.id, x]));
  const shown = stats.filter((s) => o.all || byId.get(s.attributes?.id ?? '')?.state === v1.ContainerState.CONTAINER_RUNNING);
  const before = new Map(first.map((s) => [s.attributes?.id, s]));
  await printListing(o.format, { stats: shown }, () => [['CONTAINER', 'NAME', 'POD ID', 'CPU %', 'MEM', 'DISK', 'INODES'],
    ...shown.map((s) => [short(s.attributes?.id), s.attributes?.metadata?.name ?? '', short(byId.get(s.attributes?.id ?? '')?.podSandboxId),
      cpuPercent(before.get(s.attributes?.id), s), mem(s),
      s.writableLayer ? humanBytes(num(s.writableLayer.usedBytes?.value)) : '-', s.writableLayer ? String(num(s.writableLayer.inodesUsed?.value)) : '-'])]);
}

/** ListPodSandboxStats twice, `seconds` apart: the pod's CPU %, memory, processes and containers. */
export async function podStatsView(c: CriClients, o: StatsOptions): Promise<void> {
  const [[first, stats], ready] = await Promise.all([twoSamples(o.seconds, async () => (await c.runtime.ListPodSandboxStats({})).stats),
    o.all ? undefined : c.runtime.ListPodSandbox({ filter: { state: { state: v1.PodSandboxState.SANDBOX_READY } } })]);
  const ids = ready && new Set(ready.items.map((p) => p.id));
  const shown = stats.filter((s) => !ids || ids.has(s.attributes?.id ?? ''));
  const before = new Map(first.map((s) => [s.attributes?.id, s.linux]));
  await printListing(o.format, { stats: shown }, () => [['POD ID', 'NAME', 'NAMESPACE', 'CPU %', 'MEM', 'PROCS', 'CONTAINERS'],
    ...shown.map((s) => [short(s.attributes?.id), s.attributes?.metadata?.name ?? '', s.attributes?.metadata?.namespace ?? '',
      cpuPercent(before.get(s.attributes?.id), s.linux), mem(s.linux),
      s.linux?.process ? String(num(s.linux.process.processCount?.value)) : '-', String(s.linux?.containers?.length ?? 0)])]);
}

/** berthctl's own version: the `version` of berth's package.json above this file (dist/cli, a test bundle, the checkout). */
export function clientVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'berth' && pkg.version) return pkg.version;
    } catch {
      // no package.json here
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** berthctl's version and the runtime's Version reply. */
export async function versionView(c: CriClients, format: OutputFormat): Promise<void> {
  const r = await c.runtime.Version({});
  const data = { clientVersion: clientVersion(), version: r.version, runtimeName: r.runtimeName, runtimeVersion: r.runtimeVersion, runtimeApiVersion: r.runtimeApiVersion };
  if (format !== 'table') return printData(format, data);
  table([['Client Version:', data.clientVersion], ['Version:', data.version], ['RuntimeName:', data.runtimeName],
    ['RuntimeVersion:', data.runtimeVersion], ['RuntimeApiVersion:', data.runtimeApiVersion]]);
}

/** Status with verbose info: the conditions, handlers, features and the daemon's info (its config), as crictl info prints it. */
export async function infoView(c: CriClients, format: 'json' | 'yaml'): Promise<void> {
  const r = await c.runtime.Status({ verbose: true });
  await printData(format, { status: r.status, runtimeHandlers: r.runtimeHandlers, features: r.features, ...parseInfo(r.info) });
}
