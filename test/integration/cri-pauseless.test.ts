// Pods without a pause process (docs/cri.md "Pods without a pause process"), with kubelet-shaped
// configs (test/fixtures/kubelet-pods.ts) through the Go CRI client on a kept connection, real
// runc, each runtime handler: a Deployment pod (pid CONTAINER) runs pause-less — its two
// containers see one hostname, one IPC namespace (the pinned file's inode) and one network (a
// loopback httpd of one reached by the other), the pod's sysctls apply inside and not on the host,
// the pod's shim has no process but the containers, the pod cgroup holds the containers; a daemon
// SIGKILL + restart keeps it READY and usable; a killed pod shim makes it NOTREADY; stop + remove
// leave no pinned namespace, netns, mount or shim. A shareProcessNamespace pod keeps its pause
// process, and `drop_infra_container = false` gives every pod one.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { readMountInfo } from '../../sys/index.js';
import { podSandboxConfig, setUpPod, sharedPidPod, type Pod } from '../fixtures/kubelet-pods.js';
import { buildGoCri, startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import {
  createKubeletContainer, deploymentPodOf, removeKubeletPod, useKubeletNode, type KubeletPodRun, type KubeletSetup,
} from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, shimsOf, until, useBerth, type Berth } from './cri-harness.js';
import { leftovers } from './network-harness.js';

const v1 = runtime.v1;
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString();
const mountsUnder = (dir: string) => readMountInfo().map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`)).sort();
/** Children of `pid` (every thread's) that run in a container (a mount namespace not the host's). */
const containedChildren = (pid: number) => readdirSync(`/proc/${pid}/task`)
  .flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  .filter((c) => {
    try {
      return readlinkSync(`/proc/${c}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt');
    } catch {
      return false; // gone meanwhile
    }
  }).sort((x, y) => x - y);
/** A sysctl the pod sets in its network namespace and one in its IPC namespace. */
const SYSCTLS = { 'net.ipv4.ip_unprivileged_port_start': '100', 'kernel.shmmni': '1234' };

/** Two containers: an httpd on the pod's loopback (port 8080) and a client that only waits. */
function twoContainerPod(): Pod {
  return deploymentPodOf(LOCAL_BUSYBOX, [
    { name: 'server', command: ['sh', '-c', 'mkdir -p /cache/www && echo pauseless-ok > /cache/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /cache/www'] },
    { name: 'client', command: ['sleep', '3600'] },
  ]);
}

interface Info { pid: number; pauseless?: boolean; shimPid?: number; ipcNamespace?: string; utsNamespace?: string }

describe.each(CRI_HANDLERS)('pods without a pause process on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  let go: GoCriClients | undefined;
  let baseline: { mounts: string[]; net: Awaited<ReturnType<typeof leftovers>> };
  beforeAll(async () => {
    b = berth();
    await buildGoCri();
    go = await startGoCri(b.address, { dial: 'bare', conn: 'kept' });
    baseline = { mounts: mountsUnder(b.dir), net: await leftovers(b.net.env) };
  }, 600_000);
  afterAll(async () => {
    await go?.close();
  });
  const kubelet = useKubeletNode(async () => ({ logDir: b.logDir, cri: go!, imageName: LOCAL_BUSYBOX }));
  const cri = () => go!.runtime;

  async function runPod(k: KubeletSetup, pod: Pod, sysctls?: Record<string, string>): Promise<KubeletPodRun> {
    setUpPod(k.node, pod);
    const config = podSandboxConfig(k.node, pod) as KubeletPodRun['config'];
    if (sysctls) config.linux = { ...config.linux, sysctls };
    const { podSandboxId: id } = await cri().RunPodSandbox({ config, runtimeHandler: '' });
    const st = (await cri().PodSandboxStatus({ podSandboxId: id })).status!;
    expect(st.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    return { pod, id, config, podIPs: [st.network!.ip!] };
  }
  async function start(k: KubeletSetup, run: KubeletPodRun, name: string): Promise<{ id: string; pid: number }> {
    const id = await createKubeletContainer(go!, k, run, name);
    await cri().StartContainer({ containerId: id });
    const info = JSON.parse((await cri().ContainerStatus({ containerId: id, verbose: true })).info!.info!) as { pid: number };
    return { id, pid: info.pid };
  }
  async function exec(id: string, ...cmd: string[]): Promise<string> {
    const r = await cri().ExecSync({ containerId: id, cmd, timeout: 10 });
    expect(r.exitCode, `${cmd.join(' ')}: ${text(r.stderr)}`).toBe(0);
    return text(r.stdout).trim();
  }
  const info = async (id: string) => JSON.parse((await cri().PodSandboxStatus({ podSandboxId: id, verbose: true })).info!.info!) as Info;
  const podnsDir = (id: string) => path.join(b.dir, 'state', 'podns', id);

  /** Stop and remove; then no pinned namespace, netns, mount, network leftover or shim of the pod. */
  async function removeAndCheck(k: KubeletSetup, run: KubeletPodRun) {
    await removeKubeletPod(go!, k, run);
    expect(existsSync(podnsDir(run.id))).toBe(false);
    expect(existsSync(path.join(b.dir, 'state', 'netns', run.id))).toBe(false);
    expect(mountsUnder(b.dir)).toEqual(baseline.mounts);
    expect(await leftovers(b.net.env)).toEqual(baseline.net);
    await until(() => shimsOf(b).length === 0, 'the pod shim to exit');
  }

  /** Runs the pod, then `body`; whatever it leaves, the pod is stopped and removed. */
  async function withPod(pod: Pod, sysctls: Record<string, string> | undefined, body: (k: KubeletSetup, run: KubeletPodRun) => Promise<void>) {
    const k = kubelet();
    const run = await runPod(k, pod, sysctls);
    try {
      await body(k, run);
    } finally {
      await cri().StopPodSandbox({ podSandboxId: run.id }).catch(() => undefined);
      await cri().RemovePodSandbox({ podSandboxId: run.id }).catch(() => undefined);
    }
  }

  /** What the server container's loopback-only httpd answers the client container, once it listens. */
  const fromLoopback = (clientId: string) => until(async () => {
    const r = await cri().ExecSync({ containerId: clientId, cmd: ['busybox', 'wget', '-qO-', 'http://127.0.0.1:8080/index.html'], timeout: 10 });
    return r.exitCode === 0 ? text(r.stdout) : undefined;
  }, 'the server on the pod loopback');

  it('a Deployment pod (pid CONTAINER): no pause process; its containers share hostname, IPC and network; sysctls inside only', async () => {
    const pod = twoContainerPod();
    await withPod(pod, SYSCTLS, async (k, run) => {
      const i = await info(run.id);
      expect([i.pid, i.pauseless]).toEqual([0, true]);
      // no sandbox image was needed (the harness's unreachable one would have been built locally)
      expect((await go!.image.ListImages({})).images.flatMap((im) => im.repoTags ?? [])).not.toContain('berth.local/pause:3.9');
      const shim = i.shimPid!;
      expect(shimsOf(b)).toContain(shim); // started by RunPodSandbox, before any container
      expect(containedChildren(shim)).toEqual([]); // no pause process
      const server = await start(k, run, 'server');
      const client = await start(k, run, 'client');
      // both containers in the pod's one shim, and nothing else in a container under it
      expect(containedChildren(shim)).toEqual([server.pid, client.pid].sort((x, y) => x - y));

      // One hostname, the pod's; the host's is untouched.
      expect([await exec(server.id, 'hostname'), await exec(client.id, 'hostname')]).toEqual([pod.name, pod.name]);
      expect(os.hostname()).not.toBe(pod.name);
      // One IPC namespace: the one pinned at <state>/podns/<id>/ipc, not the host's.
      const ipc = [await exec(server.id, 'busybox', 'readlink', '/proc/self/ns/ipc'), await exec(client.id, 'busybox', 'readlink', '/proc/self/ns/ipc')];
      expect(ipc).toEqual([`ipc:[${statSync(path.join(podnsDir(run.id), 'ipc')).ino}]`, ipc[0]]);
      expect(ipc[0]).not.toBe(readlinkSync('/proc/self/ns/ipc'));
      expect(readlinkSync(`/proc/${client.pid}/ns/uts`)).toBe(`uts:[${statSync(path.join(podnsDir(run.id), 'uts')).ino}]`);
      // One network: the client reaches the server's loopback-only httpd.
      expect(await fromLoopback(client.id)).toBe('pauseless-ok\n');
      expect(readlinkSync(`/proc/${server.pid}/ns/net`)).toBe(readlinkSync(`/proc/${client.pid}/ns/net`));
      // Own pid namespaces (pid CONTAINER): each app is pid 1 of its own.
      expect(readlinkSync(`/proc/${server.pid}/ns/pid`)).not.toBe(readlinkSync(`/proc/${client.pid}/ns/pid`));
      // The pod's sysctls inside its namespaces, the host's values unchanged.
      expect(await exec(client.id, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).toBe('100');
      expect(await exec(client.id, 'cat', '/proc/sys/kernel/shmmni')).toBe('1234');
      expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()).not.toBe('100');
      expect(readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim()).not.toBe('1234');
      // Stats: the pod cgroup is the containers' parent; the network is the pinned netns's.
      const stats = (await cri().PodSandboxStats({ podSandboxId: run.id })).stats!;
      expect(Number(stats.linux!.memory!.workingSetBytes!.value)).toBeGreaterThan(0);
      expect(Number(stats.linux!.process!.processCount!.value)).toBeGreaterThanOrEqual(2);
      expect(stats.linux!.network?.defaultInterface?.name).toBe('eth0');
      await removeAndCheck(k, run);
    });
  }, 180_000);

  it('a daemon SIGKILL + restart finds the pinned namespaces and the pod shim: READY, running, a new container joins', async () => {
    const pod = twoContainerPod();
    await withPod(pod, undefined, async (k, run) => {
      const server = await start(k, run, 'server');
      const shim = (await info(run.id)).shimPid!;
      const pinned = mountsUnder(podnsDir(run.id));
      expect(pinned).toEqual([path.join(podnsDir(run.id), 'ipc'), path.join(podnsDir(run.id), 'uts')]);
      await b.kill('SIGKILL');
      await b.start();
      // the kept Go connection redials the restarted daemon
      await until(() => cri().Version({}).then(() => true, () => false), 'the Go client to reach the restarted daemon');
      expect((await cri().PodSandboxStatus({ podSandboxId: run.id })).status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
      expect((await cri().ContainerStatus({ containerId: server.id })).status!.state).toBe(v1.ContainerState.CONTAINER_RUNNING);
      expect((await info(run.id)).shimPid).toBe(shim);
      expect(mountsUnder(podnsDir(run.id))).toEqual(pinned);
      const client = await start(k, run, 'client');
      expect(containedChildren(shim)).toEqual([server.pid, client.pid].sort((x, y) => x - y));
      expect(await exec(client.id, 'hostname')).toBe(pod.name);
      expect(readlinkSync(`/proc/${client.pid}/ns/ipc`)).toBe(readlinkSync(`/proc/${server.pid}/ns/ipc`));
      expect(await fromLoopback(client.id)).toBe('pauseless-ok\n');
      await removeAndCheck(k, run);
    });
  }, 180_000);

  it('a killed pod shim makes the pod NOTREADY and its containers EXITED; stop and remove leave nothing', async () => {
    await withPod(twoContainerPod(), undefined, async (k, run) => {
      const server = await start(k, run, 'server');
      const shim = (await info(run.id)).shimPid!;
      expect(containedChildren(shim)).toEqual([server.pid]);
      process.kill(shim, 'SIGKILL');
      await until(async () => (await cri().PodSandboxStatus({ podSandboxId: run.id })).status!.state === v1.PodSandboxState.SANDBOX_NOTREADY, 'the pod to be NOTREADY', 5_000);
      await until(async () => (await cri().ContainerStatus({ containerId: server.id })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'the container to be EXITED', 5_000);
      await removeAndCheck(k, run);
    });
  }, 120_000);

  it('a shareProcessNamespace pod (pid POD) keeps its pause process', async () => {
    await withPod(sharedPidPod({ image: LOCAL_BUSYBOX }), undefined, async (k, run) => {
      const i = await info(run.id);
      expect(i.pauseless).toBeUndefined();
      expect(i.pid).toBeGreaterThan(0);
      expect(containedChildren(shimsOf(b)[0]!)).toEqual([i.pid]);
      await removeAndCheck(k, run);
    });
  }, 120_000);
});

describe('drop_infra_container = false', () => {
  const berth = useBerth({ topConfig: ['drop_infra_container = false'] });
  const kubelet = useKubeletNode(async () => ({ logDir: berth().logDir, cri: berth().cri, imageName: LOCAL_BUSYBOX }));

  it('a Deployment pod (pid CONTAINER) runs a pause process, as with containerd', async () => {
    const b = berth();
    const k = kubelet();
    const pod = twoContainerPod();
    setUpPod(k.node, pod);
    const config = podSandboxConfig(k.node, pod) as KubeletPodRun['config'];
    const { podSandboxId: id } = await b.cri.runtime.RunPodSandbox({ config, runtimeHandler: '' });
    try {
      const i = JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: id, verbose: true })).info!.info!) as Info;
      expect(i.pauseless).toBeUndefined();
      expect(i.pid).toBeGreaterThan(0);
      expect(containedChildren(shimsOf(b)[0]!)).toEqual([i.pid]);
      await removeKubeletPod(b.cri, k, { pod, id, config, podIPs: [] });
      await until(() => shimsOf(b).length === 0, 'the pod shim to exit');
    } finally {
      await b.cri.runtime.StopPodSandbox({ podSandboxId: id }).catch(() => undefined);
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: id }).catch(() => undefined);
    }
  }, 120_000);
});
