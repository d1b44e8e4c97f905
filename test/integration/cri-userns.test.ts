// User namespaces (NamespaceOption.userns_options, GA in kubelet 1.36) through the Go client with
// kubelet-shaped configs (a pod with hostUsers false: POD mode, one uid and one gid mapping of
// 65536 ids at a host id kubelet allocated), real runc and each handler (docs/cri.md "User
// namespaces"). Checked from inside the containers (/proc/self/uid_map and gid_map, the owner of
// rootfs files, of a file the container makes, of an image volume's files, an idmapped volume)
// and from the host (the processes' host uid, one user namespace for the pause and every
// container, the owner on disk, nothing left after RemovePodSandbox). Every refused combination
// has its own case; Status reports user_namespaces true for the handler.
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { readMountInfo } from '../../sys/index.js';
import { containerConfig, podSandboxConfig, type Container, type Pod } from '../fixtures/kubelet-pods.js';
import { makeImage, makeLayer } from '../fixtures/oci-image.js';
import type { GoCriClients } from '../helpers/go-cri.js';
import { createKubeletContainer, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode, type KubeletPodRun } from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, type Berth } from './cri-harness.js';
import { useRegistryEnv } from './cri-registry-env.js';

const v1 = runtime.v1;
const { NamespaceMode } = v1;
const SLEEP = ['/bin/sh', '-c', 'echo up; exec sleep 600'];
const LENGTH = 65536;

/** The status line `Uid:` or `Gid:` of a host process: real, effective, saved, fs. */
const hostIds = (pid: number, key: 'Uid' | 'Gid') => readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`))!.split(/\s+/).slice(1).map(Number);
const verbosePid = (info: { [k: string]: string } | undefined) => (JSON.parse(info!.info!) as { pid: number }).pid;

describe.each(CRI_HANDLERS)('user namespaces on the %s shim', (handler) => {
  const env = useRegistryEnv({ handler }, async () => ({
    data: makeImage([await makeLayer([{ name: 'data/', type: 'directory' }, { name: 'data/hello.txt', content: 'hello\n' }])]),
  }));
  let b: Berth;
  let go: GoCriClients;
  let dataRef = '';
  const kubelet = useKubeletNode(async () => ({ logDir: env().b.logDir, cri: env().go, imageName: LOCAL_BUSYBOX }));
  beforeEach(async () => {
    ({ b, go } = env());
    dataRef = (await go.image.PullImage({ image: { image: env().ref('data') } })).imageRef;
  });

  const usernsDir = () => path.join(b.dir, 'state', 'cri', 'userns');
  const pinnedPods = () => (existsSync(usernsDir()) ? readdirSync(usernsDir()).sort() : []);
  /** A pod as a root workload with hostUsers false; `k` picks its host id range. */
  const usernsPod = (containers: Array<{ name: string } & Partial<Container>>, over: Partial<Pod> = {}): Pod => {
    const pod = deploymentPodOf(LOCAL_BUSYBOX, containers.map((c) => ({ command: SLEEP, securityContext: {}, ...c })));
    return {
      ...pod, securityContext: { seccompProfile: 'RuntimeDefault' }, hostUsers: false, usernsHostId: LENGTH * randomInt(100, 60_000),
      volumes: [...pod.volumes, { name: 'data', kind: 'image', reference: env().ref('data'), imageRef: dataRef }], ...over,
    };
  };
  const exec = async (containerId: string, script: string) => {
    const r = await go.runtime.ExecSync({ containerId, cmd: ['/bin/sh', '-c', script], timeout: 20 });
    return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exitCode };
  };

  it('Status: user_namespaces true for every handler', async () => {
    const st = await go.runtime.Status({});
    expect(st.runtimeHandlers.map((h) => [h.name, h.features?.userNamespaces])).toEqual(st.runtimeHandlers.map((h) => [h.name, true]));
    expect(st.features!.userNamespacesHostNetwork).toBe(false);
  });

  it('POD mode: one user namespace for the pod with kubelet\'s mapping; rootfs, image volume and an idmapped volume owned as inside; released at removal', async () => {
    const pod = usernsPod([
      { name: 'app', volumeMounts: [{ name: 'cache', mountPath: '/cache' }, { name: 'data', mountPath: '/vol' }] },
      { name: 'peer' },
    ]);
    const hostId = pod.usernsHostId!;
    const run = await runKubeletPod(go, kubelet(), pod);
    const { node, image } = kubelet();
    // The emptyDir as kubelet sends it for a pod in a user namespace: with the pod's mappings.
    const appConfig = containerConfig(node, pod, pod.containers[0]!, { attempt: 0, podIPs: run.podIPs, image });
    const mapping = [{ hostId, containerId: 0, length: LENGTH }];
    appConfig.mounts = appConfig.mounts!.map((m) => (m.containerPath === '/cache' ? { ...m, uidMappings: mapping, gidMappings: mapping } : m));
    const app = (await go.runtime.CreateContainer({ podSandboxId: run.id, config: appConfig, sandboxConfig: run.config })).containerId;
    const peer = await createKubeletContainer(go, kubelet(), run, 'peer');
    for (const c of [app, peer]) await go.runtime.StartContainer({ containerId: c });

    // Inside: the mapping kubelet gave, root, the image's files owned by root.
    for (const c of [app, peer]) {
      expect(await exec(c, 'cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; id -u; id -g')).toEqual({
        out: ` 0 ${hostId} ${LENGTH}\n 0 ${hostId} ${LENGTH}\n0\n0\n`, err: '', code: 0,
      });
      expect(await exec(c, 'stat -c "%u:%g %n" / /bin/busybox /etc/passwd /bin')).toMatchObject({ out: '0:0 /\n0:0 /bin/busybox\n0:0 /etc/passwd\n0:0 /bin\n', code: 0 });
    }
    // A file the container makes: root inside, the pod's root on the host's disk.
    expect(await exec(app, 'echo x > /made && stat -c "%u:%g" /made')).toMatchObject({ out: '0:0\n', code: 0 });
    // The image volume: root's files inside, read-only.
    expect(await exec(app, 'stat -c "%u:%g" /vol/data/hello.txt; cat /vol/data/hello.txt')).toMatchObject({ out: '0:0\nhello\n', code: 0 });
    const write = await exec(app, 'touch /vol/data/x');
    expect(write.code).not.toBe(0);
    expect(write.err).toMatch(/Read-only file system/);
    // The emptyDir with mappings: an idmapped mount; root inside writes as uid 0 of the host's disk.
    const cacheDir = appConfig.mounts!.find((m) => m.containerPath === '/cache')!.hostPath!;
    expect(await exec(app, 'stat -c "%u:%g" /cache; echo y > /cache/f && stat -c "%u:%g" /cache/f')).toMatchObject({ out: '0:0\n0:0\n', code: 0 });
    expect([statSync(path.join(cacheDir, 'f')).uid, statSync(path.join(cacheDir, 'f')).gid]).toEqual([0, 0]);

    // The host: the processes run as the pod's host ids, in one user namespace (not the host's).
    const pids = [
      verbosePid((await go.runtime.PodSandboxStatus({ podSandboxId: run.id, verbose: true })).info),
      ...await Promise.all([app, peer].map(async (c) => verbosePid((await go.runtime.ContainerStatus({ containerId: c, verbose: true })).info))),
    ];
    for (const pid of pids) {
      expect(hostIds(pid, 'Uid')).toEqual([hostId, hostId, hostId, hostId]);
      expect(hostIds(pid, 'Gid')).toEqual([hostId, hostId, hostId, hostId]);
    }
    const ns = pids.map((p) => readlinkSync(`/proc/${p}/ns/user`));
    expect(new Set(ns).size).toBe(1);
    expect(ns[0]).not.toBe(readlinkSync('/proc/self/ns/user'));
    const appPid = pids[1]!;
    expect([statSync(`/proc/${appPid}/root/made`).uid, statSync(`/proc/${appPid}/root/made`).gid]).toEqual([hostId, hostId]);

    // Removal leaves no pinned namespace and no idmapped mount.
    expect(pinnedPods()).toContain(run.id);
    await removeKubeletPod(go, kubelet(), run);
    expect(pinnedPods()).not.toContain(run.id);
    expect(readMountInfo().filter((m) => m.mountPoint.startsWith(usernsDir()))).toEqual([]);
  });

  it('a daemon restart keeps a running pod\'s user namespace: a container created after it joins it, its rootfs idmapped', async () => {
    const pod = usernsPod([{ name: 'app' }, { name: 'late' }]);
    const run = await runKubeletPod(go, kubelet(), pod);
    const app = await createKubeletContainer(go, kubelet(), run, 'app');
    await go.runtime.StartContainer({ containerId: app });
    const appPid = verbosePid((await go.runtime.ContainerStatus({ containerId: app, verbose: true })).info);
    await b.kill('SIGKILL');
    await b.start();
    await env().reconnect();
    go = env().go;
    const late = await createKubeletContainer(go, kubelet(), run, 'late');
    await go.runtime.StartContainer({ containerId: late });
    const latePid = verbosePid((await go.runtime.ContainerStatus({ containerId: late, verbose: true })).info);
    expect(readlinkSync(`/proc/${latePid}/ns/user`)).toBe(readlinkSync(`/proc/${appPid}/ns/user`));
    expect(await exec(late, 'cat /proc/self/uid_map | tr -s " "; stat -c "%u:%g" / /bin/busybox')).toMatchObject({
      out: ` 0 ${pod.usernsHostId} ${LENGTH}\n0:0\n0:0\n`, code: 0,
    });
    await removeKubeletPod(go, kubelet(), run);
    expect(pinnedPods()).not.toContain(run.id);
  });

  it('NODE mode (hostUsers true): no user namespace', async () => {
    const run = await runKubeletPod(go, kubelet(), usernsPod([{ name: 'app' }], { hostUsers: true }));
    expect(run.config.linux!.securityContext!.namespaceOptions!.usernsOptions).toEqual({ mode: NamespaceMode.NODE });
    const app = await createKubeletContainer(go, kubelet(), run, 'app');
    await go.runtime.StartContainer({ containerId: app });
    expect(await exec(app, 'cat /proc/self/uid_map | tr -s " "')).toMatchObject({ out: ' 0 0 4294967295\n', code: 0 });
    await removeKubeletPod(go, kubelet(), run);
  });

  describe('refused (InvalidArgument, nothing left)', () => {
    type Userns = runtime.v1.UserNamespace.$Properties;
    const m = (hostId: number, containerId = 0, length = LENGTH) => ({ hostId, containerId, length });
    const podCases: Array<[string, (u: Userns) => Userns, Partial<Pod>, RegExp]> = [
      ['mode CONTAINER', (u) => ({ ...u, mode: NamespaceMode.CONTAINER }), {}, /mode CONTAINER is not supported/],
      ['mode TARGET', (u) => ({ ...u, mode: NamespaceMode.TARGET }), {}, /mode TARGET is not supported/],
      ['two uid mappings', (u) => ({ ...u, uids: [m(LENGTH * 200), m(LENGTH * 300, LENGTH)] }), {}, /exactly one mapping/],
      ['two gid mappings', (u) => ({ ...u, gids: [m(LENGTH * 200), m(LENGTH * 300, LENGTH)] }), {}, /exactly one mapping/],
      ['container id 0 not mapped', (u) => ({ ...u, uids: [m(LENGTH * 200, 1000)] }), {}, /must map container id 0/],
      ['no gid mapping', (u) => ({ ...u, gids: [] }), {}, /gids: exactly one mapping is supported, got 0/],
      ['a zero length', (u) => ({ ...u, uids: [m(LENGTH * 200, 0, 0)] }), {}, /length must be positive/],
      ['NODE with mappings', (u) => ({ ...u, mode: NamespaceMode.NODE }), {}, /mode NODE takes no mappings/],
      ['POD with the host network', (u) => u, { hostNetwork: true }, /host network namespace/],
    ];
    it.each(podCases)('RunPodSandbox: %s', async (_what, change, over, message) => {
      const pod = usernsPod([{ name: 'app' }], over);
      const config = podSandboxConfig(kubelet().node, pod);
      const opts = config.linux!.securityContext!.namespaceOptions!;
      opts.usernsOptions = change(opts.usernsOptions!);
      const before = (await go.runtime.ListPodSandbox({})).items.length;
      const pinned = pinnedPods();
      const err = await go.runtime.RunPodSandbox({ config }).then(() => undefined, (e: unknown) => e as Error & { code?: number });
      expect(err?.code).toBe(3);
      expect(err!.message).toMatch(message);
      expect((await go.runtime.ListPodSandbox({})).items.length).toBe(before);
      expect(pinnedPods()).toEqual(pinned);
    });

    const containerCases: Array<[string, (run: KubeletPodRun, c: runtime.v1.ContainerConfig.$Properties) => void, RegExp]> = [
      ['a container without the pod\'s user namespace (NODE)', (_r, c) => {
        c.linux!.securityContext!.namespaceOptions!.usernsOptions = { mode: NamespaceMode.NODE };
      }, /must use its pod's user namespace/],
      ['a container with another mapping', (_r, c) => {
        const u = c.linux!.securityContext!.namespaceOptions!.usernsOptions!;
        c.linux!.securityContext!.namespaceOptions!.usernsOptions = { ...u, uids: [m(u.uids![0]!.hostId! + LENGTH)] };
      }, /must use its pod's user namespace/],
      ['a mount with a mapping other than the pod\'s', (r, c) => {
        c.mounts = c.mounts!.map((x) => (x.containerPath === '/cache' ? { ...x, uidMappings: [m(r.pod.usernsHostId! + LENGTH)], gidMappings: [m(r.pod.usernsHostId!)] } : x));
      }, /mappings must be the pod's/],
    ];
    it.each(containerCases)('CreateContainer: %s', async (_what, change, message) => {
      const pod = usernsPod([{ name: 'app', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }]);
      const run = await runKubeletPod(go, kubelet(), pod);
      try {
        const config = containerConfig(kubelet().node, pod, pod.containers[0]!, { attempt: 0, podIPs: run.podIPs, image: kubelet().image });
        change(run, config);
        const err = await go.runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config }).then(() => undefined, (e: unknown) => e as Error & { code?: number });
        expect(err?.code).toBe(3);
        expect(err!.message).toMatch(message);
        expect((await go.runtime.ListContainers({ filter: { podSandboxId: run.id } })).containers).toEqual([]);
      } finally {
        await removeKubeletPod(go, kubelet(), run);
      }
    });

    it('mappings on a mount in a pod without a user namespace', async () => {
      const pod = usernsPod([{ name: 'app', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }], { hostUsers: true });
      const run = await runKubeletPod(go, kubelet(), pod);
      try {
        const config = containerConfig(kubelet().node, pod, pod.containers[0]!, { attempt: 0, podIPs: run.podIPs, image: kubelet().image });
        config.mounts = config.mounts!.map((x) => (x.containerPath === '/cache' ? { ...x, uidMappings: [m(LENGTH * 7)], gidMappings: [m(LENGTH * 7)] } : x));
        const err = await go.runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config }).then(() => undefined, (e: unknown) => e as Error & { code?: number });
        expect(err?.code).toBe(3);
        expect(err!.message).toMatch(/need a pod in a user namespace/);
      } finally {
        await removeKubeletPod(go, kubelet(), run);
      }
    });
  });
});
