// What a Kubernetes 1.36 kubelet reads beyond the 1.26 calls, through the Go client (grpc-go,
// test/helpers/go-cri.ts) against a real daemon and real runc: RuntimeConfig's cgroup driver and
// Status's runtime handlers and features, checked against the daemon's config file; image_id on
// Container and ContainerStatus equal to PullImage's image_ref, the sha256 of the config blob in the
// image store; Image.pinned for the sandbox image and pinned_images; ContainerConfig.stop_signal
// over the image's stop signal; and the KEP-5825 Stream* list calls answering what the List calls
// answer (UNIMPLEMENTED where the list is, so kubelet falls back). docs/cri.md.
// The pods are kubelet 1.32's Deployment replicas (test/fixtures/kubelet-pods.ts via
// test/helpers/kubelet-pod-run.ts): the test names their containers and commands.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type BerthConfig } from '../../cri/index.js';
import { imageRootOf } from '../../image/index.js';
import { runtime } from '../../proto/cri.js';
import { buildGoCri, startGoCri, type GoCriClients, type GoCriStream } from '../helpers/go-cri.js';
import {
  createKubeletContainer, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode,
} from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, until, useBerth, type Berth, type BerthOptions } from './cri-harness.js';

const v1 = runtime.v1;
const LOCAL_PAUSE = 'berth.local/pause:3.9'; // the sandbox image the harness's unreachable one falls back to

const configOf = (b: Berth): Promise<BerthConfig> => loadConfig(path.join(b.dir, 'config.toml'));

/** Every message of a Go client server stream (rejects with the stream's status). */
async function streamed<T>(open: (onMessage: (m: T) => void) => GoCriStream): Promise<T[]> {
  const out: T[] = [];
  await open((m) => out.push(m)).done;
  return out;
}

/** A daemon for the calling describe block (useBerth) with a Go client on it, both stopped after. */
function useBerthAndGo(opts: BerthOptions): { berth: () => Berth; go: () => GoCriClients } {
  const berth = useBerth(opts);
  let go: GoCriClients | undefined;
  beforeAll(async () => {
    await buildGoCri();
    go = await startGoCri(berth().address);
  }, 600_000);
  afterAll(async () => {
    await go?.close();
  });
  return { berth, go: () => go! };
}

describe.each(CRI_HANDLERS)('a 1.36 kubelet\'s reads on the %s shim', (handler) => {
  const daemon = useBerthAndGo({ handler });
  const berth = daemon.berth;
  const kubelet = useKubeletNode(async () => ({ logDir: berth().logDir, cri: daemon.go(), imageName: LOCAL_BUSYBOX }));
  let b: Berth;
  let go: GoCriClients;
  beforeEach(() => {
    go = daemon.go();
    b = berth();
  });

  it('RuntimeConfig: the cgroup driver of the default handler runc options (SystemdCgroup unset: CGROUPFS)', async () => {
    const config = await configOf(b);
    const options = config.containerd.runtimes[config.containerd.defaultRuntimeName]!.options as { systemdCgroup: boolean };
    expect(options.systemdCgroup).toBe(false);
    const rc = await go.runtime.RuntimeConfig({});
    expect(rc.linux!.cgroupDriver).toBe(v1.CgroupDriver.CGROUPFS);
    expect(rc.toJSON()).toEqual((await b.cri.runtime.RuntimeConfig({})).toJSON());
  });

  it('Status: every configured handler, the default again as "", with rro, user namespaces and the supplemental groups policy', async () => {
    const config = await configOf(b);
    const st = await go.runtime.Status({});
    expect(st.status!.conditions!.map((c) => [c.type, c.status])).toEqual([['RuntimeReady', true], ['NetworkReady', true]]);
    const names = st.runtimeHandlers.map((h) => h.name);
    expect(names.filter((n) => n !== '').sort()).toEqual(Object.keys(config.containerd.runtimes).sort());
    expect(names.filter((n) => n === '')).toHaveLength(1);
    expect(names[names.indexOf('') - 1]).toBe(config.containerd.defaultRuntimeName);
    expect(config.containerd.defaultRuntimeName).toBe(handler);
    // every handler here runs runc and the kernel has mount_setattr (cri-pod-security-136.test.ts and cri-userns.test.ts prove both work)
    for (const h of st.runtimeHandlers) expect([h.name, h.features?.recursiveReadOnlyMounts, h.features?.userNamespaces]).toEqual([h.name, true, true]);
    expect([st.features!.supplementalGroupsPolicy, st.features!.userNamespacesHostNetwork]).toEqual([true, false]);
  });

  it('image_id on Container and ContainerStatus is PullImage\'s image_ref, the config blob\'s digest; the sandbox image is pinned', async () => {
    const { imageRef } = await go.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
    expect(imageRef).toMatch(/^sha256:[0-9a-f]{64}$/);
    const blob = path.join(imageRootOf(path.join(b.dir, 'root')), 'content', 'blobs', 'sha256', imageRef.slice('sha256:'.length));
    expect(`sha256:${createHash('sha256').update(readFileSync(blob)).digest('hex')}`).toBe(imageRef);

    // A pod sharing its pid namespace runs the sandbox image (one without runs no pause process,
    // docs/cri.md "Pods without a pause process").
    const pod = { ...deploymentPodOf(LOCAL_BUSYBOX, [{ name: 'c', command: ['sleep', '600'] }]), shareProcessNamespace: true };
    const run = await runKubeletPod(go, kubelet(), pod);
    // kubelet creates the container from the image_ref EnsureImageExists answered.
    const ctr = await createKubeletContainer(go, kubelet(), run, 'c', { image: { image: imageRef, userSpecifiedImage: LOCAL_BUSYBOX } });
    const cs = (await go.runtime.ContainerStatus({ containerId: ctr })).status!;
    expect([cs.imageId, cs.imageRef]).toEqual([imageRef, imageRef]);
    const listed = (await go.runtime.ListContainers({ filter: { id: ctr } })).containers;
    expect(listed.map((c) => [c.id, c.imageId])).toEqual([[ctr, imageRef]]);
    expect((await go.image.ImageStatus({ image: { image: LOCAL_BUSYBOX } })).image!.id).toBe(imageRef);

    // pinned: the sandbox image in use (the locally built pause here), not busybox
    const images = (await go.image.ListImages({})).images;
    const pinned = Object.fromEntries(images.map((i) => [i.repoTags?.[0], i.pinned]));
    expect(pinned).toEqual({ [LOCAL_PAUSE]: true, [LOCAL_BUSYBOX]: false });
    expect((await go.image.ImageStatus({ image: { image: LOCAL_PAUSE } })).image!.pinned).toBe(true);
    await removeKubeletPod(go, kubelet(), run);
  });

  it('StopContainer sends the config stop_signal over the image\'s (SIGTERM, which a shell as pid 1 ignores)', async () => {
    // The shell is pid 1 of its own pid namespace (kubelet's CONTAINER mode), so the kernel drops
    // signals it has no handler for: USR1 ends it with 42, nothing else short of SIGKILL (137).
    const command = ['/bin/sh', '-c', 'trap "exit 42" USR1; echo ready; sleep 600 & wait'];
    const run = await runKubeletPod(go, kubelet(), deploymentPodOf(LOCAL_BUSYBOX, [{ name: 'usr1', command }, { name: 'plain', command }]));
    expect(run.config.linux!.securityContext!.namespaceOptions!.pid).toBe(v1.NamespaceMode.CONTAINER);
    const start = async (name: string, stopSignal?: number) => {
      // A 1.36 kubelet sends the container's lifecycle.stopSignal; the 1.32 fixture has no such
      // field, so it is added to the generated config.
      const containerId = await createKubeletContainer(go, kubelet(), run, name, stopSignal ? { stopSignal } : {});
      await go.runtime.StartContainer({ containerId });
      const log = path.join(run.config.logDirectory, `${name}/0.log`);
      await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('ready'), `${name} trapping USR1`);
      return containerId;
    };
    const usr1 = await start('usr1', v1.Signal.SIGUSR1);
    const began = Date.now();
    await go.runtime.StopContainer({ containerId: usr1, timeout: 30 });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect((await go.runtime.ContainerStatus({ containerId: usr1 })).status!.exitCode).toBe(42);

    const plain = await start('plain');
    await go.runtime.StopContainer({ containerId: plain, timeout: 1 });
    expect((await go.runtime.ContainerStatus({ containerId: plain })).status!.exitCode).toBe(137);
    await removeKubeletPod(go, kubelet(), run);
  });

  it('Stream* answer what List* answer, StreamPodSandboxMetrics included', async () => {
    const runs = [];
    const sleeper = (name: string) => ({ name, command: ['sleep', '600'] });
    for (let i = 0; i < 2; i++) {
      const run = await runKubeletPod(go, kubelet(), deploymentPodOf(LOCAL_BUSYBOX, [sleeper('a'), sleeper('b')]));
      runs.push(run);
      for (const n of ['a', 'b']) {
        const containerId = await createKubeletContainer(go, kubelet(), run, n);
        if (n === 'a') await go.runtime.StartContainer({ containerId });
      }
    }
    const pods = runs.map((r) => r.id);
    const json = (xs: readonly object[]) => xs.map((x) => JSON.parse(JSON.stringify(x)) as unknown);
    // kubelet's container labels select by pod uid (the second pod's two containers).
    const byUid = { labelSelector: { 'io.kubernetes.pod.uid': runs[1]!.pod.uid } };
    for (const filter of [{}, byUid, { state: { state: v1.ContainerState.CONTAINER_RUNNING } }, { podSandboxId: pods[0]!.slice(0, 12) }]) {
      const listed = (await go.runtime.ListContainers({ filter })).containers;
      const parts = await streamed<runtime.v1.StreamContainersResponse>((on) => go.runtimeStream('StreamContainers', { filter }, on));
      expect(json(parts.flatMap((p) => p.containers))).toEqual(json(listed));
      expect(parts.length).toBe(listed.length > 0 ? 1 : 0); // a few containers: one message, none for nothing
    }
    expect((await go.runtime.ListContainers({})).containers).toHaveLength(4);
    const sandboxes = await streamed<runtime.v1.StreamPodSandboxesResponse>((on) => go.runtimeStream('StreamPodSandboxes', {}, on));
    expect(json(sandboxes.flatMap((p) => p.podSandboxes))).toEqual(json((await go.runtime.ListPodSandbox({})).items));
    const images = await streamed<runtime.v1.StreamImagesResponse>((on) => go.imageStream('StreamImages', {}, on));
    expect(json(images.flatMap((p) => p.images))).toEqual(json((await go.image.ListImages({})).images));
    const stats = await streamed<runtime.v1.StreamContainerStatsResponse>((on) => go.runtimeStream('StreamContainerStats', {}, on));
    expect(stats.flatMap((p) => p.containerStats.map((s) => s.attributes!.id)).sort())
      .toEqual((await go.runtime.ListContainerStats({})).stats.map((s) => s.attributes!.id).sort());

    // ListPodSandboxMetrics is implemented (cri-kubelet-136-stats.test.ts checks its values): its stream answers the same pods.
    const metrics = await streamed<runtime.v1.StreamPodSandboxMetricsResponse>((on) => go.runtimeStream('StreamPodSandboxMetrics', {}, on));
    expect(metrics.flatMap((p) => p.podSandboxMetrics.map((m) => m.podSandboxId)).sort())
      .toEqual((await go.runtime.ListPodSandboxMetrics({})).podMetrics.map((m) => m.podSandboxId).sort());
    for (const run of runs) await removeKubeletPod(go, kubelet(), run);
  });
});

describe('a daemon with SystemdCgroup and pinned_images', () => {
  const { berth, go: goOf } = useBerthAndGo({
    extraConfig: ['[containerd.runtimes.runc.options]', 'SystemdCgroup = true', '[pinned_images]', 'base = "berth.local/busybox:latest"'],
  });

  it('answers SYSTEMD and reports the pinned_images image pinned', async () => {
    const go = goOf();
    const config = await configOf(berth());
    expect(config.pinnedImages).toEqual({ base: LOCAL_BUSYBOX });
    expect((config.containerd.runtimes.runc!.options as { systemdCgroup: boolean }).systemdCgroup).toBe(true);
    expect((await go.runtime.RuntimeConfig({})).linux!.cgroupDriver).toBe(v1.CgroupDriver.SYSTEMD);
    const images = (await go.image.ListImages({ filter: { image: { image: LOCAL_BUSYBOX } } })).images;
    expect(images.map((i) => [i.repoTags?.[0], i.pinned])).toEqual([[LOCAL_BUSYBOX, true]]);
  });
});
