// What a 1.36 kubelet reads for evented PLEG and for its stats, through the Go client (grpc-go,
// test/helpers/go-cri.ts) against a real daemon and real runc, each value checked against the host
// (docs/cri.md "Evented PLEG", "Stats", "CRI metrics", "ImageFsInfo"):
// - PodSandboxStatus' containers_statuses and timestamp; GetContainerEvents events carrying the
//   statuses of all the pod's containers after each change;
// - usage_core_nano_seconds between two reads of the container's cpuacct.usage, usage_nano_cores
//   from two samples, working set and page faults against memory.stat, swap only with host swap;
// - the pod's eth0 counters against netlink's inside the pod's netns (nsenter ip -s), after a ping;
// - ListMetricDescriptors / ListPodSandboxMetrics with cAdvisor's names, values equal to the stats';
// - ImageFsInfo's container_filesystems: the rw snapshots apart, moving with a container's writes.
// Each pod is a kubelet 1.32 Deployment replica (test/fixtures/kubelet-pods.ts via
// test/helpers/kubelet-pod-run.ts): its cgroup under a kubepods root of the test's own, uid 1000.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import type { Container } from '../fixtures/kubelet-pods.js';
import { buildGoCri, startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import {
  createKubeletContainer, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode,
} from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const T = v1.ContainerEventType;

const big = (x: unknown): bigint => BigInt(String(x ?? 0));
const n = (x: { value?: unknown } | null | undefined): number => Number(String(x?.value ?? 0));

/** The container process's own cgroup dir for a v1 controller (this host is cgroup v1 or unified). */
function cgroupFile(pid: number, controller: string, file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1Line = lines.map((l) => l.split(':')).find(([, ctrls]) => ctrls!.split(',').includes(controller));
  if (v1Line) return path.join('/sys/fs/cgroup', controller, v1Line[2]!, file);
  const unified = lines.map((l) => l.split(':')).find(([h]) => h === '0')!;
  return path.join('/sys/fs/cgroup', unified[2]!, file);
}

const v2 = (): boolean => !readFileSync('/proc/self/cgroup', 'utf8').split('\n').some((l) => /^\d+:[^:]+:/.test(l) && !l.startsWith('0::'));

function memoryStat(pid: number): Map<string, number> {
  const text = readFileSync(cgroupFile(pid, 'memory', 'memory.stat'), 'utf8');
  return new Map(text.trim().split('\n').map((l) => l.split(' ')).map(([k, val]) => [k!, Number(val)]));
}

const cpuUsageNs = (pid: number): bigint => (v2()
  ? BigInt(memoryStatLike(cgroupFile(pid, 'cpu', 'cpu.stat')).get('usage_usec') ?? 0) * 1000n
  : BigInt(readFileSync(cgroupFile(pid, 'cpuacct', 'cpuacct.usage'), 'utf8').trim()));

function memoryStatLike(file: string): Map<string, number> {
  return new Map(readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, val]) => [k!, Number(val)]));
}

const hostSwap = (): number => Number(/^SwapTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);

/** eth0's counters asked over netlink inside the pod's netns (`ip -s`: another path than berth's /proc/<pid>/net/dev). */
function netnsCounters(netns: string): { rx: number; tx: number } {
  const out = execFileSync('nsenter', [`--net=${netns}`, 'ip', '-j', '-s', 'link', 'show', 'eth0'], { encoding: 'utf8' });
  const [link] = JSON.parse(out) as Array<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>;
  return { rx: link!.stats64.rx.bytes, tx: link!.stats64.tx.bytes };
}

describe.each(CRI_HANDLERS)('a 1.36 kubelet\'s evented PLEG and stats on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  let go: GoCriClients;
  beforeAll(async () => {
    await buildGoCri();
    b = berth();
    go = await startGoCri(b.address);
  }, 600_000);
  afterAll(async () => {
    await go?.close();
  });
  const kubelet = useKubeletNode(async () => ({ logDir: b.logDir, cri: go, imageName: LOCAL_BUSYBOX }));

  /** A Deployment pod running `containers` (name, command and any other container field). */
  async function pod(containers: Array<{ name: string; command: string[] } & Partial<Container>>, podFields: Partial<ReturnType<typeof deploymentPodOf>> = {}) {
    const run = await runKubeletPod(go, kubelet(), { ...deploymentPodOf(LOCAL_BUSYBOX, containers), ...podFields });
    const container = (cname: string) => createKubeletContainer(go, kubelet(), run, cname);
    const pidOf = async (id: string) => (JSON.parse((await go.runtime.ContainerStatus({ containerId: id, verbose: true })).info.info!) as { pid: number }).pid;
    const remove = () => removeKubeletPod(go, kubelet(), run);
    return { id: run.id, config: run.config, container, pidOf, remove };
  }

  it('PodSandboxStatus carries every container\'s status and its timestamp; each event the statuses after its change', async () => {
    const events: runtime.v1.ContainerEventResponse[] = [];
    const stream = go.runtimeStream('GetContainerEvents', {}, (e) => events.push(e));
    const p = await pod([{ name: 'a', command: ['sleep', '600'] }, { name: 'b', command: ['sleep', '600'] }]);
    try {
      const a = await p.container('a');
      const c = await p.container('b');
      await go.runtime.StartContainer({ containerId: a });
      await go.runtime.StopContainer({ containerId: a, timeout: 0 });
      await go.runtime.RemoveContainer({ containerId: a });

      const before = BigInt(Date.now()) * 1_000_000n;
      const ps = await go.runtime.PodSandboxStatus({ podSandboxId: p.id });
      const after = BigInt(Date.now()) * 1_000_000n;
      expect(big(ps.timestamp) >= before - 1_000_000n && big(ps.timestamp) <= after + 1_000_000n).toBe(true);
      const own = (await go.runtime.ContainerStatus({ containerId: c })).status!;
      expect(ps.containersStatuses.map((s) => [s.id, s.state, s.createdAt?.toString()])).toEqual([[c, v1.ContainerState.CONTAINER_CREATED, own.createdAt?.toString()]]);

      const mine = () => events.filter((e) => e.podSandboxStatus?.id === p.id);
      await until(() => mine().some((e) => e.containerId === a && e.containerEventType === T.CONTAINER_DELETED_EVENT), 'a\'s DELETED event');
      const seen = mine().filter((e) => e.containerId !== p.id).map((e) => [
        e.containerId === a ? 'a' : 'b', e.containerEventType,
        Object.fromEntries(e.containersStatuses.map((s) => [s.id === a ? 'a' : 'b', s.state])),
      ]);
      const S = v1.ContainerState;
      expect(seen).toEqual([
        ['a', T.CONTAINER_CREATED_EVENT, { a: S.CONTAINER_CREATED }],
        ['b', T.CONTAINER_CREATED_EVENT, { a: S.CONTAINER_CREATED, b: S.CONTAINER_CREATED }],
        ['a', T.CONTAINER_STARTED_EVENT, { a: S.CONTAINER_RUNNING, b: S.CONTAINER_CREATED }],
        ['a', T.CONTAINER_STOPPED_EVENT, { a: S.CONTAINER_EXITED, b: S.CONTAINER_CREATED }],
        ['a', T.CONTAINER_DELETED_EVENT, { b: S.CONTAINER_CREATED }],
      ]);
      for (const e of mine()) expect(e.podSandboxStatus!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    } finally {
      stream.cancel();
      await stream.done.catch(() => undefined);
      await p.remove();
    }
  });

  it('cpu, memory, page faults and swap against the container\'s cgroup files', async () => {
    // The Deployment's 500m cpu limit leaves the loop half a core: still a rate to measure.
    const p = await pod([{ name: 'busy', command: ['/bin/sh', '-c', 'while :; do :; done'] }]);
    try {
      const busy = await p.container('busy');
      await go.runtime.StartContainer({ containerId: busy });
      const pid = await p.pidOf(busy);

      const h0 = cpuUsageNs(pid);
      const first = (await go.runtime.ContainerStats({ containerId: busy })).stats!;
      const h1 = cpuUsageNs(pid);
      const u0 = big(first.cpu!.usageCoreNanoSeconds!.value);
      expect(u0 >= h0 && u0 <= h1).toBe(true);
      expect(n(first.cpu!.usageNanoCores)).toBe(0); // the first sample of this container
      await until(() => cpuUsageNs(pid) > h1 + 200_000_000n, 'the loop using 0.2 s of cpu');
      const second = (await go.runtime.ContainerStats({ containerId: busy })).stats!;
      const du = Number(big(second.cpu!.usageCoreNanoSeconds!.value) - u0);
      const dt = Number(big(second.cpu!.timestamp) - big(first.cpu!.timestamp));
      const cores = n(second.cpu!.usageNanoCores);
      expect(cores).toBeGreaterThan(0);
      expect(cores).toBeLessThanOrEqual(2e9 * 1.05); // at most the machine's 2 cores
      expect(Math.abs(cores - (du / dt) * 1e9)).toBeLessThan(0.1e9); // containerd's delta(usage)/delta(time)

      const m0 = memoryStat(pid);
      const stats = (await go.runtime.ContainerStats({ containerId: busy })).stats!;
      const m1 = memoryStat(pid);
      const k = v2() ? '' : 'total_';
      const usage = Number(readFileSync(cgroupFile(pid, 'memory', v2() ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8'));
      const ws = usage - (m1.get(`${k}inactive_file`) ?? 0);
      expect(Math.abs(n(stats.memory!.workingSetBytes) - ws)).toBeLessThanOrEqual(256 * 1024);
      for (const [field, key] of [['pageFaults', 'pgfault'], ['majorPageFaults', 'pgmajfault']] as const) {
        const got = n(stats.memory![field]);
        expect(got).toBeGreaterThanOrEqual(m0.get(`${k}${key}`)!);
        expect(got).toBeLessThanOrEqual(m1.get(`${k}${key}`)!);
      }
      expect(n(stats.memory!.pageFaults)).toBeGreaterThan(0);
      // swap: reported only where the host has swap
      expect(stats.swap === null || stats.swap === undefined).toBe(hostSwap() === 0);

      // the pod: its own first sample, then a rate over the pod's processes
      const ps0 = (await go.runtime.PodSandboxStats({ podSandboxId: p.id })).stats!.linux!;
      expect(n(ps0.cpu!.usageNanoCores)).toBe(0);
      const ps0Usage = big(ps0.cpu!.usageCoreNanoSeconds!.value);
      await until(() => cpuUsageNs(pid) > h1 + 400_000_000n, 'more cpu used');
      const ps1 = (await go.runtime.PodSandboxStats({ podSandboxId: p.id })).stats!.linux!;
      expect(big(ps1.cpu!.usageCoreNanoSeconds!.value)).toBeGreaterThan(ps0Usage);
      expect(n(ps1.cpu!.usageNanoCores)).toBeGreaterThan(0);
      expect((ps1.containers ?? []).map((c) => c.attributes!.id)).toEqual([busy]);
    } finally {
      await p.remove();
    }
  });

  it('the pod\'s network counters are eth0\'s in its netns, and move with a ping from inside', async () => {
    // busybox ping needs a raw socket (it has no ICMP datagram socket fallback): this Deployment's
    // pinger runs as the image's root with NET_RAW added to its dropped-ALL set, not uid 1000.
    const p = await pod(
      [{ name: 'pinger', command: ['sleep', '600'], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_RAW'] } } }],
      { securityContext: { seccompProfile: 'RuntimeDefault' } },
    );
    try {
      const c = await p.container('pinger');
      await go.runtime.StartContainer({ containerId: c });
      const status = await go.runtime.PodSandboxStatus({ podSandboxId: p.id, verbose: true });
      const netns = (JSON.parse(status.info.info!) as { netNamespace: string }).netNamespace;
      const ip = status.status!.network!.ip!;
      const gateway = ip.replace(/\.\d+$/, '.1');
      const n0 = netnsCounters(netns);
      const r = await go.runtime.ExecSync({ containerId: c, cmd: ['/bin/busybox', 'ping', '-c', '3', '-W', '2', gateway], timeout: 20 });
      expect([r.exitCode, Buffer.from(r.stdout).toString()]).toEqual([0, expect.stringContaining('3 packets received')]);
      const n1 = netnsCounters(netns);
      const net = (await go.runtime.PodSandboxStats({ podSandboxId: p.id })).stats!.linux!.network!;
      const n2 = netnsCounters(netns);
      expect(n1.tx - n0.tx).toBeGreaterThanOrEqual(3 * 98); // three 84-byte ICMP packets with their ethernet headers
      expect(net.defaultInterface!.name).toBe('eth0');
      expect((net.interfaces ?? []).map((i) => i.name)).toEqual(['eth0']);
      const got = { rx: n(net.defaultInterface!.rxBytes), tx: n(net.defaultInterface!.txBytes) };
      expect(got.tx >= n1.tx && got.tx <= n2.tx && got.rx >= n1.rx && got.rx <= n2.rx).toBe(true);
      expect(n(net.defaultInterface!.rxErrors) + n(net.defaultInterface!.txErrors)).toBe(0);
    } finally {
      await p.remove();
    }
  });

  it('ListMetricDescriptors and ListPodSandboxMetrics: cAdvisor\'s names, the stats\' values', async () => {
    const p = await pod([{ name: 'm', command: ['sleep', '600'] }]);
    try {
      const c = await p.container('m');
      await go.runtime.StartContainer({ containerId: c });
      const { descriptors } = await go.runtime.ListMetricDescriptors({});
      const names = descriptors.map((d) => d.name);
      for (const want of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_memory_usage_bytes',
        'container_memory_rss', 'container_network_receive_bytes_total', 'container_network_transmit_bytes_total', 'container_start_time_seconds']) {
        expect(names).toContain(want);
      }
      const keys = Object.fromEntries(descriptors.map((d) => [d.name, d.labelKeys]));
      expect(keys.container_memory_working_set_bytes).toEqual(['container', 'id', 'image', 'name', 'namespace', 'pod']);
      expect(keys.container_network_receive_bytes_total).toEqual(['container', 'id', 'image', 'name', 'namespace', 'pod', 'interface']);

      const metric = (ms: runtime.v1.Metric.$Properties[] | null | undefined, name: string) => (ms ?? []).find((m) => m.name === name)!;
      // The same figures as ContainerStats: equal once the new container's memory stops moving
      // between the two calls (a sleeping process settles within moments).
      const { pm, cm, st } = await until(async () => {
        const { podMetrics } = await go.runtime.ListPodSandboxMetrics({});
        const st = (await go.runtime.ContainerStats({ containerId: c })).stats!;
        const pm = podMetrics.find((m) => m.podSandboxId === p.id)!;
        const cm = (pm.containerMetrics ?? []).find((m) => m.containerId === c)!;
        return n(metric(cm.metrics, 'container_memory_working_set_bytes').value) === n(st.memory!.workingSetBytes) ? { pm, cm, st } : undefined;
      }, 'the working set metric equal to ContainerStats\'');
      // every metric's labels match its descriptor's keys
      for (const m of [...pm.metrics ?? [], ...cm.metrics ?? []]) expect(m.labelValues!.length).toBe(keys[m.name!]!.length);
      const ws = metric(cm.metrics, 'container_memory_working_set_bytes');
      // image: what the ContainerConfig named, kubelet's image id (EnsureImageExists' answer).
      expect(ws.labelValues).toEqual(['m', c, kubelet().image.ref, c, 'berth-test', p.config.metadata!.name]);
      expect(ws.metricType).toBe(v1.MetricType.GAUGE);
      expect(n(metric(cm.metrics, 'container_memory_usage_bytes').value)).toBeGreaterThanOrEqual(n(ws.value));
      const cpu = metric(cm.metrics, 'container_cpu_usage_seconds_total');
      expect(cpu.metricType).toBe(v1.MetricType.COUNTER);
      expect(n(cpu.value)).toBe(Math.floor(Number(big(st.cpu!.usageCoreNanoSeconds!.value)) / 1e9));
      const started = (await go.runtime.ContainerStatus({ containerId: c })).status!.startedAt;
      expect(n(metric(cm.metrics, 'container_start_time_seconds').value)).toBe(Number(big(started) / 1_000_000_000n));
      const rx = metric(pm.metrics, 'container_network_receive_bytes_total');
      expect(rx.labelValues).toEqual(['POD', p.id, '', p.id, 'berth-test', p.config.metadata!.name, 'eth0']);
      const netns = (JSON.parse((await go.runtime.PodSandboxStatus({ podSandboxId: p.id, verbose: true })).info.info!) as { netNamespace: string }).netNamespace;
      expect(n(rx.value)).toBeLessThanOrEqual(netnsCounters(netns).rx);
    } finally {
      await p.remove();
    }
  });

  it('ImageFsInfo reports the containers\' rw snapshots apart, on the image filesystem\'s mountpoint', async () => {
    // uid 1000 writes to the image's /tmp (1777), in the rw snapshot like any rootfs path.
    const p = await pod([{ name: 'w', command: ['/bin/sh', '-c', 'dd if=/dev/zero of=/tmp/blob bs=1024 count=2048 && echo done && sleep 600'] }]);
    try {
      const c = await p.container('w');
      await go.runtime.StartContainer({ containerId: c });
      await until(() => readFileSync(path.join(p.config.logDirectory, 'w/0.log'), 'utf8').includes('done'), 'the 2 MiB write');
      const wl = await until(async () => {
        const s = (await go.runtime.ContainerStats({ containerId: c })).stats!.writableLayer;
        return s && n(s.usedBytes) >= 2048 * 1024 ? s : undefined;
      }, 'the writable layer measured with the write');
      const info = await until(async () => {
        const r = await go.image.ImageFsInfo({});
        return n(r.containerFilesystems[0]?.usedBytes) >= 2048 * 1024 ? r : undefined;
      }, 'ImageFsInfo counting the write', 30_000);
      const [img] = info.imageFilesystems;
      const [ctr] = info.containerFilesystems;
      expect(info.containerFilesystems).toHaveLength(1);
      expect(ctr!.fsId!.mountpoint).toBe(img!.fsId!.mountpoint);
      expect(ctr!.fsId!.mountpoint).toBe(wl.fsId!.mountpoint);
      expect(n(ctr!.usedBytes)).toBeLessThan(n(img!.usedBytes)); // a part of the whole
      expect(n(ctr!.inodesUsed)).toBeGreaterThan(0);
    } finally {
      await p.remove();
    }
    const emptied = await until(async () => {
      const r = await go.image.ImageFsInfo({});
      return n(r.containerFilesystems[0]?.usedBytes) < 2048 * 1024 ? r : undefined;
    }, 'the removed container\'s snapshot gone from container_filesystems');
    expect(emptied.containerFilesystems).toHaveLength(1);
  });
});
