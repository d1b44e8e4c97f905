// Pods shaped exactly as kubelet 1.32 builds them (test/fixtures/kubelet-pods.ts) through a real
// berth daemon under each runtime handler, driven the way kubelet drives a runtime: the Go CRI
// client (grpc-go 1.33, test/helpers/go-cri.ts) dialling the bare socket path over one kept
// connection, as kubelet 1.26 does. Per pod: kubelet's pod dirs and volumes, RunPodSandbox,
// CreateContainer + StartContainer (init containers run to completion first), exec probes through
// ExecSync, the CRI log under the pod log dir, then kubelet's kill (StopContainer with the grace
// period, StopPodSandbox) and garbage collection (container log, RemoveContainer, RemovePodSandbox),
// with the retries kubelet makes. Afterwards nothing of the pod is left: no shim, no mount, no netns,
// no container cgroup. Cgroups live under a kubepods root of this test's own, removed at the end.
import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import {
  containerConfig, crashLoopPod, deploymentPod, imageUser, initContainerPod, kubeletNode, kubeProxyPod, podCgroupParent,
  podSandboxConfig, probeRequest, setUpPod, sharedPidPod, volumeHostPath, type Container, type KubeletImage, type KubeletNode, type Pod,
} from '../fixtures/kubelet-pods.js';
import { runtime } from '../../proto/cri.js';
import { readMountInfo } from '../../sys/index.js';
import { buildGoCri, startGoCri, type GoCriClients, type GoCriOptions } from '../helpers/go-cri.js';
import { CGROUP_FS, cgroupDirs, childCgroups, removeCgroupTree, testCgroupRoot, type KubeletCri } from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, shimsOf, until, useBerth, type Berth } from './cri-harness.js';
import { leftovers } from './network-harness.js';

const v1 = runtime.v1;
/** kubelet 1.26's dial: the socket path as target (grpc-go sends it as :authority). */
const DIAL: GoCriOptions['dial'] = 'bare';
const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (stdout|stderr) ([PF]) (.*)$/;

interface PodRun {
  node: KubeletNode;
  pod: Pod;
  id: string;
  config: runtime.v1.PodSandboxConfig.$Properties;
  podIPs: string[];
  /** Every container made in the pod, in creation order (a restart adds one). */
  containers: Array<{ name: string; id: string; config: runtime.v1.ContainerConfig.$Properties }>;
}

/** The CRI log records of a file (empty while it does not exist); a line out of format fails. */
function logRecords(file: string): Array<{ stream: string; tag: string; text: string }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = LINE.exec(l);
    if (!m) throw new Error(`${file}: not a CRI log line: ${JSON.stringify(l)}`);
    return { stream: m[2]!, tag: m[3]!, text: m[4]! };
  });
}

const mountsUnder = (dir: string) => readMountInfo().map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`)).sort();

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString();
const field = (out: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(out)?.[1];

describe.each(CRI_HANDLERS)('kubelet-shaped pods on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  const cgroupRoot = testCgroupRoot();
  let b: Berth;
  let go: GoCriClients | undefined;
  let kubelet: KubeletCri;
  let tmp = '';
  let node: KubeletNode;
  let image: KubeletImage;
  let baseline: { mounts: string[]; net: Awaited<ReturnType<typeof leftovers>> };

  beforeAll(async () => {
    b = berth();
    await buildGoCri();
    go = await startGoCri(b.address, { dial: DIAL, conn: 'kept' });
    kubelet = go;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-kubelet-'));
    node = kubeletNode({ kubeletRoot: path.join(tmp, 'kubelet'), podLogsRoot: path.join(b.logDir, 'pods'), cgroupRoot });
    // EnsureImageExists: the image is present, so kubelet only asks for its id and user.
    const st = (await kubelet.image.ImageStatus({ image: { image: LOCAL_BUSYBOX } })).image!;
    image = { ref: st.id!, name: LOCAL_BUSYBOX, ...imageUser(st) };
    baseline = { mounts: mountsUnder(b.dir), net: await leftovers(b.net.env) };
  }, 600_000);

  afterAll(async () => {
    await go?.close();
    const failed = removeCgroupTree(cgroupRoot);
    if (tmp) await rm(tmp, { recursive: true, force: true });
    if (failed.length) throw new Error(`cgroups left under ${cgroupRoot}:\n${failed.join('\n')}`);
  });

  const cri = () => kubelet.runtime;

  /** createPodSandbox, then the pod's IPs as SyncPod gets them (the node's for host network). */
  async function runPod(n: KubeletNode, pod: Pod): Promise<PodRun> {
    setUpPod(n, pod);
    const config = podSandboxConfig(n, pod);
    const { podSandboxId: id } = await cri().RunPodSandbox({ config, runtimeHandler: '' });
    const st = (await cri().PodSandboxStatus({ podSandboxId: id })).status!;
    expect(st.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    expect(st.linux!.namespaces!.options).toEqual(expect.objectContaining(config.linux!.securityContext!.namespaceOptions));
    const podIPs = pod.hostNetwork ? n.nodeIPs : [st.network!.ip!, ...(st.network!.additionalIps ?? []).map((a) => a.ip!)];
    if (!pod.hostNetwork) expect(podIPs[0]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    return { node: n, pod, id, config, podIPs, containers: [] };
  }

  /** startContainer: generateContainerConfig, CreateContainer, StartContainer. */
  async function startContainer(run: PodRun, c: Container, attempt = 0): Promise<string> {
    const config = containerConfig(run.node, run.pod, c, { attempt, podIPs: run.podIPs, image });
    const { containerId } = await cri().CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config });
    run.containers.push({ name: c.name, id: containerId, config });
    await cri().StartContainer({ containerId });
    return containerId;
  }

  const logFile = (run: PodRun, name: string, attempt = 0) => path.join(run.config.logDirectory!, `${name}/${attempt}.log`);

  /** The record of `line` in the container's CRI log, once it is there. */
  async function logged(run: PodRun, name: string, line: string, attempt = 0) {
    return until(() => logRecords(logFile(run, name, attempt)).find((r) => r.text === line), `"${line}" in ${name}/${attempt}.log`);
  }

  async function exited(id: string) {
    return until(async () => {
      const s = (await cri().ContainerStatus({ containerId: id })).status!;
      return s.state === v1.ContainerState.CONTAINER_EXITED ? s : undefined;
    }, `container ${id} to exit`);
  }

  /** A readiness probe: kubelet repeats it (a failed call counts as a failed probe) until it passes. */
  async function probeReady(id: string, c: Container) {
    let last = '';
    return until(async () => {
      const r = await cri().ExecSync(probeRequest(id, c)).catch((err: unknown) => {
        last = String(err);
        return undefined;
      });
      if (r && r.exitCode !== 0) last = `exit ${r.exitCode}: ${text(r.stderr)}`;
      return r?.exitCode === 0 ? r : undefined;
    }, `probe of ${c.name} to pass`).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last result: ${last}`);
    });
  }

  async function exec(id: string, script: string) {
    const r = await cri().ExecSync({ containerId: id, cmd: ['/bin/sh', '-c', script], timeout: 10 });
    return { out: text(r.stdout), err: text(r.stderr), exitCode: r.exitCode };
  }

  /** The host pid of a running container (verbose ContainerStatus). */
  async function hostPid(id: string): Promise<number> {
    const info = JSON.parse((await cri().ContainerStatus({ containerId: id, verbose: true })).info!.info!) as { pid: number };
    expect(info.pid).toBeGreaterThan(0);
    return info.pid;
  }

  /** The container's own cgroup under the pod's parent, checked from the host's side. */
  function expectCgroup(run: PodRun, id: string, pid: number) {
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const line = lines.find((l) => l.split(':')[1] === 'memory') ?? lines.find((l) => l.startsWith('0::'));
    expect(line?.split(':').slice(2).join(':')).toBe(`${podCgroupParent(run.node, run.pod)}/${id}`);
  }

  const ns = (pid: number | 'self', type: string) => readlinkSync(`/proc/${pid}/ns/${type}`);
  /** The process's pid in its own (innermost) pid namespace. */
  const innerPid = (pid: number) => field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'NSpid')!.split(/\s+/).at(-1);

  /**
   * killPodWithSyncResult then the garbage collector: StopContainer (grace period) for every
   * container, StopPodSandbox, then per container its log file and RemoveContainer, and
   * RemovePodSandbox. Every call is made twice, as kubelet's retries do, and must succeed twice.
   */
  async function killAndCollect(run: PodRun) {
    const grace = run.pod.terminationGracePeriodSeconds;
    await Promise.all(run.containers.map((c) => cri().StopContainer({ containerId: c.id, timeout: grace })));
    for (const c of run.containers) await cri().StopContainer({ containerId: c.id, timeout: grace });
    await cri().StopPodSandbox({ podSandboxId: run.id });
    await cri().StopPodSandbox({ podSandboxId: run.id });
    expect((await cri().PodSandboxStatus({ podSandboxId: run.id })).status!.state).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    for (const c of run.containers) {
      // removeContainerLog: kubelet deletes the file ContainerStatus names, then the container.
      const logPath = (await cri().ContainerStatus({ containerId: c.id })).status!.logPath!;
      expect(logPath).toBe(path.join(run.config.logDirectory!, c.config.logPath!));
      rmSync(logPath, { force: true });
      await cri().RemoveContainer({ containerId: c.id });
      await cri().RemoveContainer({ containerId: c.id });
    }
    await cri().RemovePodSandbox({ podSandboxId: run.id });
    await cri().RemovePodSandbox({ podSandboxId: run.id });
    await expect(cri().PodSandboxStatus({ podSandboxId: run.id })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
    for (const c of run.containers) await cri().RemoveContainer({ containerId: c.id }); // GC racing the pod's removal
  }

  async function expectNothingLeft(run: PodRun) {
    const byUid = { labelSelector: { 'io.kubernetes.pod.uid': run.pod.uid } };
    expect((await cri().ListPodSandbox({ filter: byUid })).items).toEqual([]);
    expect((await cri().ListContainers({ filter: byUid })).containers).toEqual([]);
    await until(() => shimsOf(b).length === 0, 'the pod shim to exit');
    expect(mountsUnder(b.dir)).toEqual(baseline.mounts);
    expect(mountsUnder(tmp)).toEqual([]);
    expect(await leftovers(b.net.env)).toEqual(baseline.net);
    // No container cgroup is left under the pod's; the pod's own (kubelet's to remove) goes now.
    const parent = podCgroupParent(run.node, run.pod);
    expect(cgroupDirs(parent).flatMap(childCgroups)).toEqual([]);
    expect(removeCgroupTree(parent)).toEqual([]);
  }

  /** Whatever a failed test left: the pod through the grpc-js client, its cgroups, its files. */
  async function forget(pod: Pod) {
    const items = await b.cri.runtime.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.uid } } }).then((r) => r.items, () => []);
    for (const p of items) {
      await b.cri.runtime.StopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
    }
    removeCgroupTree(podCgroupParent(node, pod));
  }

  async function withPod(n: KubeletNode, pod: Pod, body: (run: PodRun) => Promise<void>) {
    try {
      const run = await runPod(n, pod);
      await body(run);
      await killAndCollect(run);
      await expectNothingLeft(run);
    } finally {
      await forget(pod);
    }
  }

  it('a) a Burstable Deployment pod: cgroup parent, volumes, /etc/hosts and termination log, probe, DNS, env, restricted context', async () => {
    // kubelet on an SELinux node (RHEL, Fedora) asks to relabel each managed volume, /etc/hosts
    // and the termination log; containerd takes it on any host (a no-op without SELinux).
    const n: KubeletNode = { ...node, selinuxEnabled: true };
    const pod = deploymentPod({ image: LOCAL_BUSYBOX });
    const [web] = pod.containers as [Container];
    await withPod(n, pod, async (run) => {
      expect(run.config.portMappings).toEqual([{ hostIp: '', hostPort: 0, containerPort: 8080, protocol: v1.Protocol.TCP }]);
      const id = await startContainer(run, web);
      const config = run.containers[0]!.config;
      expect(config.mounts!.map((m) => [m.containerPath, m.readonly, m.selinuxRelabel])).toEqual([
        ['/cache', false, true], ['/etc/web', true, true], ['/var/run/secrets/kubernetes.io/serviceaccount', true, true],
        ['/etc/hosts', false, true], ['/dev/termination-log', false, true],
      ]);
      await probeReady(id, web);
      expect(await logged(run, 'web', `web ${pod.name} up`)).toEqual({ stream: 'stdout', tag: 'F', text: `web ${pod.name} up` });
      expect(await logged(run, 'web', 'oops')).toEqual({ stream: 'stderr', tag: 'F', text: 'oops' });

      // Command substitution needs pipe(2), which containerd's RuntimeDefault profile allows.
      expect.soft((await exec(id, 'echo "$(echo through-a-pipe)"')).out).toBe('through-a-pipe\n');
      // The rest runs commands directly, so it does not depend on that one syscall.
      const run1 = async (...cmd: string[]) => {
        const r = await cri().ExecSync({ containerId: id, cmd, timeout: 10 });
        expect(r.exitCode, `${cmd.join(' ')}: ${text(r.stderr)}`).toBe(0);
        return text(r.stdout);
      };
      expect([await run1('id', '-u'), await run1('id', '-g')]).toEqual(['1000\n', '3000\n']);
      expect((await run1('id', '-G')).trim().split(' ')).toContain('2000'); // fsGroup as a supplemental group
      const status = await run1('cat', '/proc/self/status');
      expect([field(status, 'NoNewPrivs'), field(status, 'Seccomp'), field(status, 'CapEff')]).toEqual(['1', '2', '0000000000000000']);
      expect(await run1('hostname')).toBe(`${pod.name}\n`);
      const env = Object.fromEntries((await run1('env')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(env).toEqual(expect.objectContaining({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', POD_NAME: pod.name, MODE: 'production' }));
      expect(await run1('cat', '/etc/web/app.conf')).toBe('listen=8080\n');
      const webMount = (await run1('cat', '/proc/self/mountinfo')).split('\n').map((l) => l.split(' ')).find((f) => f[4] === '/etc/web');
      expect(webMount?.[5]).toMatch(/^ro\b/); // a configMap volume is always read-only
      expect(await run1('cat', '/var/run/secrets/kubernetes.io/serviceaccount/namespace')).toBe('berth-test');
      // The pod's files are kubelet's: the same bytes on both sides of each bind mount.
      const hosts = await run1('cat', '/etc/hosts');
      expect(hosts).toBe(readFileSync(path.join(n.kubeletRoot, 'pods', pod.uid, 'etc-hosts'), 'utf8'));
      expect(hosts).toContain(`${run.podIPs[0]}\t${pod.name}\n`);
      const resolv = await run1('cat', '/etc/resolv.conf');
      expect(resolv).toMatch(/^nameserver 10\.96\.0\.10$/m);
      expect(resolv).toMatch(/^search berth-test\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
      expect(resolv).toMatch(/^options ndots:5$/m);
      expect(readFileSync(path.join(volumeHostPath(n, pod, pod.volumes[0]!), 'app.conf'), 'utf8')).toBe('listen=8080\n');

      // Resources as kubelet computed them, read back from the host.
      const res = config.linux!.resources!;
      expect([res.cpuShares, res.cpuQuota, res.cpuPeriod, res.memoryLimitInBytes]).toEqual([102, 50_000, 100_000, 128 * 1024 * 1024]);
      const pid = await hostPid(id);
      expect(innerPid(pid)).toBe('1'); // pid CONTAINER: the app is init of its own pid namespace
      expectCgroup(run, id, pid);
      const own = Number(readFileSync('/proc/self/oom_score_adj', 'utf8')); // berth never goes below its own score (docs/oci-spec.md)
      expect(Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'))).toBe(Math.max(Number(res.oomScoreAdj), own));
      const memDir = cgroupDirs(`${podCgroupParent(n, pod)}/${id}`).find((d) => d.startsWith(`${CGROUP_FS}/memory/`));
      if (memDir) expect(readFileSync(path.join(memDir, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(128 * 1024 * 1024));

      // SIGTERM with the grace period: the app writes its termination message into kubelet's file.
      await cri().StopContainer({ containerId: id, timeout: pod.terminationGracePeriodSeconds });
      const st = await exited(id);
      expect([st.exitCode, st.reason]).toEqual([0, 'Completed']);
      const term = config.mounts!.find((m) => m.containerPath === '/dev/termination-log')!.hostPath!;
      expect(readFileSync(term, 'utf8')).toBe('bye\n');
    });
  }, 180_000);

  it('b) a kube-proxy-like DaemonSet pod: host network, privileged, hostPath mounts, no sandbox hostname', async () => {
    const hostDir = await mkdtemp(path.join(tmp, 'host-'));
    // The host's /lib/modules when there is one (read-only); xtables.lock is FileOrCreate, kept off the host's /run.
    const libModules = existsSync('/lib/modules') ? '/lib/modules' : path.join(hostDir, 'modules');
    await mkdir(libModules, { recursive: true });
    if (libModules !== '/lib/modules') await writeFile(path.join(libModules, 'modules.dep'), '');
    const pod = kubeProxyPod({ image: LOCAL_BUSYBOX, libModules, xtablesLock: path.join(hostDir, 'xtables.lock') });
    const [proxy] = pod.containers as [Container];
    await withPod(node, pod, async (run) => {
      expect(run.config.hostname).toBeUndefined();
      expect(run.config.linux!.securityContext!.namespaceOptions).toEqual({ network: v1.NamespaceMode.NODE, pid: v1.NamespaceMode.CONTAINER, ipc: v1.NamespaceMode.POD });
      const id = await startContainer(run, proxy);
      await probeReady(id, proxy);
      await logged(run, 'kube-proxy', `kube-proxy on ${node.nodeName}`);
      const r = await exec(id, [
        'echo "hostname: $(hostname)"', 'grep "^CapEff:" /proc/self/status',
        'test -e /run/xtables.lock; echo "lock: $?"', 'touch /lib/modules/.berth 2>/dev/null; echo "modules-write: $?"',
        'echo "hosts: $(head -n 1 /etc/hosts)"',
      ].join('; '));
      expect(field(r.out, 'hostname')).toBe(os.hostname());
      const hostCaps = field(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
      expect(field(r.out, 'CapEff')).toBe(hostCaps);
      expect([field(r.out, 'lock'), field(r.out, 'modules-write')]).toEqual(['0', '1']);
      expect(field(r.out, 'hosts')).toBe('# Kubernetes-managed hosts file (host network).');
      const resolv = (await exec(id, 'cat /etc/resolv.conf')).out;
      for (const s of node.hostDNS.servers) expect(resolv).toContain(`nameserver ${s}`);
      expect(resolv).not.toContain('10.96.0.10');
      const pid = await hostPid(id);
      // The host's network and UTS namespaces; its own pid namespace (pid CONTAINER).
      expect([ns(pid, 'net'), ns(pid, 'uts')]).toEqual([ns('self', 'net'), ns('self', 'uts')]);
      expect(ns(pid, 'pid')).not.toBe(ns('self', 'pid'));
      expect(innerPid(pid)).toBe('1');
      expectCgroup(run, id, pid);
      expect(Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'))).toBe(Math.max(-997, Number(readFileSync('/proc/self/oom_score_adj', 'utf8'))));
    });
    expect(existsSync(path.join(hostDir, 'xtables.lock'))).toBe(true); // a hostPath outlives the pod
  }, 180_000);

  it('c) a pod with shareProcessNamespace: one pid namespace for both containers (pid POD)', async () => {
    const pod = sharedPidPod({ image: LOCAL_BUSYBOX });
    const [app, sidecar] = pod.containers as [Container, Container];
    await withPod(node, pod, async (run) => {
      expect(run.config.linux!.securityContext!.namespaceOptions!.pid).toBe(v1.NamespaceMode.POD);
      expect(run.config.linux!.cgroupParent).toBe(`${cgroupRoot}/pod${pod.uid}`); // Guaranteed: no QoS level
      const appId = await startContainer(run, app);
      const sideId = await startContainer(run, sidecar);
      await logged(run, 'app', 'app up');
      await logged(run, 'sidecar', 'sidecar up');
      await probeReady(sideId, sidecar); // the sidecar sees the app's `sleep 3601`
      const [a, s] = [await hostPid(appId), await hostPid(sideId)];
      expect(ns(a, 'pid')).toBe(ns(s, 'pid'));
      expect(ns(a, 'pid')).not.toBe(ns('self', 'pid'));
      expect([innerPid(a), innerPid(s)]).not.toContain('1'); // pid 1 is the pod's own process
      expectCgroup(run, appId, a);
    });
  }, 180_000);

  it('d) an init container runs to completion before the app container is created', async () => {
    const pod = initContainerPod({ image: LOCAL_BUSYBOX });
    const [init] = pod.initContainers as [Container];
    const [app] = pod.containers as [Container];
    await withPod(node, pod, async (run) => {
      // Pod requests: the larger of the init container's 200m and the app's 50m.
      expect(run.config.linux!.resources!.cpuShares).toBe(204);
      const initId = await startContainer(run, init);
      const st = await exited(initId);
      expect([st.exitCode, st.reason]).toEqual([0, 'Completed']);
      await logged(run, 'init-work', 'init done');
      const appId = await startContainer(run, app);
      expect(text((await probeReady(appId, app)).stdout)).toBe('prepared\n');
      await logged(run, 'app', 'app sees prepared');
      const listed = await cri().ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.uid } } });
      expect(listed.containers.map((c) => [c.metadata!.name, c.state]).sort()).toEqual([
        ['app', v1.ContainerState.CONTAINER_RUNNING], ['init-work', v1.ContainerState.CONTAINER_EXITED],
      ]);
    });
  }, 180_000);

  it('e) a restart: attempt 1 of the same container in the same pod, with its own log file', async () => {
    const pod = crashLoopPod({ image: LOCAL_BUSYBOX });
    const [app] = pod.containers as [Container];
    await withPod(node, pod, async (run) => {
      const first = await startContainer(run, app, 0);
      const st = await exited(first);
      expect([st.exitCode, st.reason]).toEqual([1, 'Error']);
      await logged(run, 'app', 'attempt 0 failing', 0);
      // SyncPod: restartCount = the dead container's + 1; the dead one stays until GC.
      const second = await startContainer(run, app, 1);
      expect(run.containers[1]!.config.logPath).toBe('app/1.log');
      expect(run.containers[1]!.config.annotations!['io.kubernetes.container.restartCount']).toBe('1');
      await probeReady(second, app);
      await logged(run, 'app', 'attempt 1 serving', 1);
      expect(logRecords(logFile(run, 'app', 0)).map((r) => r.text)).toEqual(['attempt 0 failing']);
      const byName = { labelSelector: { 'io.kubernetes.pod.uid': pod.uid, 'io.kubernetes.container.name': 'app' } };
      const listed = (await cri().ListContainers({ filter: byName })).containers;
      expect(listed.map((c) => [c.id, c.metadata!.attempt, c.state]).sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([
        [first, 0, v1.ContainerState.CONTAINER_EXITED], [second, 1, v1.ContainerState.CONTAINER_RUNNING],
      ]);
      expect((await cri().ContainerStatus({ containerId: first })).status!.exitCode).toBe(1);
    });
  }, 180_000);
});
