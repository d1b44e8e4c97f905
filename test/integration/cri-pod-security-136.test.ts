// What kubelet 1.33-1.36 turns on by default for pod security and resize, through the Go client
// (grpc-go, test/helpers/go-cri.ts) with kubelet-shaped configs (test/fixtures/kubelet-pods.ts),
// real runc and each shim: recursive read-only mounts (a write into a sub-mount fails with EROFS
// inside the container; each invalid combination is InvalidArgument and leaves nothing behind),
// SupplementalGroupsPolicy Merge and Strict (the groups the container's init got, from its
// /proc/1/status, and ContainerStatus.user), and in-place resize (UpdatePodSandboxResources
// recorded; UpdateContainerResources seen in the host's cgroup v1 files and in
// ContainerStatus.resources; a memory limit below the usage is FAILED_PRECONDITION and changes
// nothing). docs/cri.md "Pod security (kubelet 1.33-1.36)" and "In-place resize".
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import {
  containerConfig, containerResizeRequest, imageUser, Mi, podCgroupParent, podResizeRequest, type KubeletImage, type Pod,
} from '../fixtures/kubelet-pods.js';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { buildGoCri, startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import {
  CGROUP_FS, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode, type KubeletPodRun, type KubeletSetup,
} from '../helpers/kubelet-pod-run.js';
import { startRegistry } from '../helpers/registry.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const SLEEP = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];
// The image of cri-tools' SupplementalGroupsPolicy test: its user 1000 is a member of gid 50000 in /etc/group.
const IMAGE_UID = 1000;
const IMAGE_GROUP = 50000;

/** Two host dirs, each a tmpfs with a tmpfs mounted at sub/: what a hostPath volume with a nested mount looks like. */
function mountTree(root: string): void {
  mkdirSync(root, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-rro-top', root]);
  mkdirSync(path.join(root, 'sub'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-rro-sub', path.join(root, 'sub')]);
}

const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));

/** `Uid`, `Gid` and `Groups` of a /proc/<pid>/status text. */
function creds(status: string): { uid: number; gid: number; groups: number[] } {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/).filter(Boolean).map(Number) ?? [];
  return { uid: field('Uid')[0]!, gid: field('Gid')[0]!, groups: field('Groups') };
}

describe.each(CRI_HANDLERS)('kubelet 1.36 pod security and resize on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let go: GoCriClients | undefined;
  let tmp = '';
  let groupsImage: KubeletImage;
  // before useKubeletNode's hooks: its beforeAll needs the client, its afterAll runs after the pods are gone (hooks stack)
  beforeAll(async () => {
    await buildGoCri();
    go = await startGoCri(berth().address);
    tmp = await fs.mkdtemp(path.join(berth().dir, 'volumes-'));
    mountTree(path.join(tmp, 'rro'));
    mountTree(path.join(tmp, 'plain'));
    // kubelet pulls the pod's image, then reads its id and user with ImageStatus
    const layout = path.join(tmp, 'layout');
    const passwd = `root:x:0:0:root:/root:/bin/sh\ndefault-user:x:${IMAGE_UID}:${IMAGE_UID}::/home:/bin/sh\n`;
    const group = `root:x:0:\ndefault-user:x:${IMAGE_UID}:\ngroup-defined-in-image:x:${IMAGE_GROUP}:default-user\n`;
    await writeLayout(layout, 'v1', makeImage([await busyboxLayer(), await makeLayer([
      { name: 'etc/', type: 'directory' }, { name: 'etc/passwd', content: passwd }, { name: 'etc/group', content: group },
    ])], { user: String(IMAGE_UID) }));
    const reg = await startRegistry();
    try {
      await reg.push(layout, 'v1', 'test/groups');
      const name = `${reg.host}/test/groups:v1`;
      await go.image.PullImage({ image: { image: name } });
      const st = (await go.image.ImageStatus({ image: { image: name } })).image!;
      groupsImage = { ref: st.id!, name, ...imageUser(st) };
    } finally {
      await reg.stop();
    }
  }, 600_000);
  afterAll(async () => {
    await go?.close();
    if (tmp) for (const top of ['rro', 'plain']) if (existsSync(path.join(tmp, top))) execFileSync('umount', ['-R', path.join(tmp, top)]);
  });
  const kubelet = useKubeletNode(async () => ({ logDir: berth().logDir, cri: go!, imageName: LOCAL_BUSYBOX }));

  // getters, not beforeEach copies: the nested describes' beforeAll hooks run before any beforeEach
  const b = (): Berth => berth();
  const k = (): KubeletSetup => kubelet();
  const cri = (): GoCriClients => go!;
  const runs: KubeletPodRun[] = [];
  afterAll(async () => {
    for (const run of runs) await removeKubeletPod(go!, kubelet(), run);
  });

  const stagedRoot = () => path.join(b().dir, 'state', 'rro');

  async function startPod(pod: Pod): Promise<KubeletPodRun> {
    const run = await runKubeletPod(cri(), k(), pod);
    runs.push(run);
    return run;
  }

  /** CreateContainer with kubelet's config for `name` (patched by `patch`), StartContainer, wait RUNNING. */
  async function startContainer(run: KubeletPodRun, name: string, image: KubeletImage, patch: (c: runtime.v1.ContainerConfig.$Properties) => void = () => undefined) {
    const c = run.pod.containers.find((x) => x.name === name)!;
    const config = containerConfig(k().node, run.pod, c, { attempt: 0, podIPs: run.podIPs, image, handlerRro: true });
    patch(config);
    const { containerId } = await cri().runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config });
    await cri().runtime.StartContainer({ containerId });
    await until(async () => (await cri().runtime.ContainerStatus({ containerId })).status!.state === v1.ContainerState.CONTAINER_RUNNING,
      `container ${name} RUNNING`);
    return containerId;
  }

  const exec = async (containerId: string, cmd: string[]) => {
    const r = await cri().runtime.ExecSync({ containerId, cmd, timeout: 10 });
    return { exitCode: r.exitCode, stdout: Buffer.from(r.stdout).toString(), stderr: Buffer.from(r.stderr).toString() };
  };

  it('Status: recursive read-only mounts under every runc handler, user namespaces too (cri-userns.test.ts), the supplemental groups policy runtime-wide', async () => {
    const st = await cri().runtime.Status({});
    for (const h of st.runtimeHandlers) expect([h.name, h.features?.recursiveReadOnlyMounts, h.features?.userNamespaces]).toEqual([h.name, true, true]);
    expect(st.features!.supplementalGroupsPolicy).toBe(true);
  });

  describe('recursive read-only mounts', () => {
    let run: KubeletPodRun;
    const rroPod = (): Pod => {
      const pod = deploymentPodOf(LOCAL_BUSYBOX, [{
        name: 'reader', command: SLEEP,
        volumeMounts: [
          { name: 'data', mountPath: '/data', readOnly: true, recursiveReadOnly: 'Enabled' },
          { name: 'plain', mountPath: '/plain', readOnly: true },
          { name: 'conf', mountPath: '/etc/app.conf', readOnly: true, recursiveReadOnly: 'Enabled' },
        ],
      }]);
      return {
        ...pod, volumes: [
          ...pod.volumes,
          { name: 'data', kind: 'hostPath', path: path.join(tmp, 'rro'), type: 'Directory' },
          { name: 'plain', kind: 'hostPath', path: path.join(tmp, 'plain'), type: 'Directory' },
          { name: 'conf', kind: 'hostPath', path: path.join(tmp, 'app.conf'), type: 'FileOrCreate' },
        ],
      };
    };
    beforeAll(async () => {
      run = await startPod(rroPod());
    });

    it('a write into the sub-mount of an rro volume fails with EROFS in the container; a plain ro volume\'s sub-mount stays writable', async () => {
      const id = await startContainer(run, 'reader', k().image);
      const st = (await cri().runtime.ContainerStatus({ containerId: id })).status!;
      expect(st.mounts?.find((m) => m.containerPath === '/data')).toMatchObject({ readonly: true, recursiveReadOnly: true, hostPath: path.join(tmp, 'rro') });
      for (const f of ['/data/f', '/data/sub/f']) {
        const r = await exec(id, ['touch', f]);
        expect([f, r.exitCode, r.stderr]).toEqual([f, 1, `touch: ${f}: Read-only file system\n`]);
      }
      // a single-file rro mount (staged as a file)
      expect(await exec(id, ['sh', '-c', 'echo x > /etc/app.conf'])).toMatchObject({ exitCode: 1, stderr: expect.stringContaining('Read-only file system') });
      // the same tree bound plain `ro`: only its top is read-only (what rro is for)
      expect((await exec(id, ['touch', '/plain/f'])).exitCode).toBe(1);
      expect(await exec(id, ['touch', '/plain/sub/f'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
      expect(existsSync(path.join(tmp, 'plain', 'sub', 'f'))).toBe(true);
      // the host's own tree stays writable, and berth's staged copy is gone once runc has bound it
      await fs.writeFile(path.join(tmp, 'rro', 'sub', 'host-write'), 'ok');
      expect(mountsUnder(stagedRoot())).toEqual([]);
      expect(existsSync(path.join(stagedRoot(), id))).toBe(false);
      // the container's view: both levels read-only
      const inside = (await exec(id, ['cat', '/proc/self/mountinfo'])).stdout.split('\n').filter((l) => /^\S+ \S+ \S+ \S+ \/data(\/sub)? /.test(l));
      expect(inside.map((l) => [l.split(' ')[4], l.split(' ')[5]!.split(',')[0]])).toEqual([['/data', 'ro'], ['/data/sub', 'ro']]);
    });

    it.each([
      ['readonly false', { readonly: false }, /recursive read-only mount conflicts with RW mount/],
      ['HOST_TO_CONTAINER propagation', { propagation: v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER }, /needs private propagation, got PROPAGATION_HOST_TO_CONTAINER/],
      ['BIDIRECTIONAL propagation', { propagation: v1.MountPropagation.PROPAGATION_BIDIRECTIONAL }, /needs private propagation, got PROPAGATION_BIDIRECTIONAL/],
    ] as const)('rro with %s is InvalidArgument; no container, no staged mount', async (_, change, message) => {
      const before = (await cri().runtime.ListContainers({ filter: { podSandboxId: run.id } })).containers.length;
      const c = run.pod.containers[0]!;
      const config = containerConfig(k().node, run.pod, c, { attempt: 1, podIPs: run.podIPs, image: k().image, handlerRro: true });
      Object.assign(config.mounts!.find((m) => m.containerPath === '/data')!, change);
      const err = await cri().runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config }).then(() => undefined, (e: unknown) => e);
      expect(isKind(err, 'invalid-argument')).toBe(true);
      expect((err as Error).message).toMatch(message);
      expect((await cri().runtime.ListContainers({ filter: { podSandboxId: run.id } })).containers).toHaveLength(before);
      expect(mountsUnder(stagedRoot())).toEqual([]);
    });
  });

  describe('SupplementalGroupsPolicy', () => {
    // cri-tools' case: the image's user 1000 (gid 1000) is in group 50000; the pod adds 1234, kubelet adds fsGroup 2000.
    const groupsPod = (policy: 'Merge' | 'Strict'): Pod => {
      const pod = deploymentPodOf(groupsImage.name, [{ name: 'id', command: SLEEP }]);
      return { ...pod, securityContext: { runAsNonRoot: true, fsGroup: 2000, supplementalGroups: [1234], supplementalGroupsPolicy: policy, seccompProfile: 'RuntimeDefault' } };
    };

    it.each([
      ['Merge', [1000, 1234, 2000, IMAGE_GROUP]],
      ['Strict', [1000, 1234, 2000]],
    ] as const)('%s: the container\'s init has exactly these groups, and ContainerStatus.user says so', async (policy, groups) => {
      const run = await startPod(groupsPod(policy));
      expect(run.config.linux!.securityContext!.supplementalGroupsPolicy).toBe(v1.SupplementalGroupsPolicy[policy]);
      const id = await startContainer(run, 'id', groupsImage);
      expect(creds((await exec(id, ['cat', '/proc/1/status'])).stdout)).toEqual({ uid: IMAGE_UID, gid: IMAGE_UID, groups });
      const user = (await cri().runtime.ContainerStatus({ containerId: id })).status!.user!.linux!;
      expect({ uid: Number(user.uid), gid: Number(user.gid), supplementalGroups: (user.supplementalGroups ?? []).map(Number).sort((a, c) => a - c) })
        .toEqual({ uid: IMAGE_UID, gid: IMAGE_UID, supplementalGroups: groups });
      // an exec gets the same identity
      expect(creds((await exec(id, ['cat', '/proc/self/status'])).stdout).groups).toEqual(groups);
    });

    it('a policy the CRI does not define is InvalidArgument; no container is left', async () => {
      const run = await startPod(groupsPod('Strict'));
      const c = run.pod.containers[0]!;
      const config = containerConfig(k().node, run.pod, c, { attempt: 0, podIPs: run.podIPs, image: groupsImage });
      config.linux!.securityContext!.supplementalGroupsPolicy = 7 as runtime.v1.SupplementalGroupsPolicy;
      const err = await cri().runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config }).then(() => undefined, (e: unknown) => e);
      expect(isKind(err, 'invalid-argument')).toBe(true);
      expect((err as Error).message).toMatch(/supplemental_groups_policy: unknown value 7/);
      expect((await cri().runtime.ListContainers({ filter: { podSandboxId: run.id } })).containers).toEqual([]);
    });
  });

  describe('in-place resize', () => {
    let run: KubeletPodRun;
    let id = '';
    const cgroupFile = (controller: string, file: string, of = id) =>
      readFileSync(path.join(CGROUP_FS, controller, podCgroupParent(k().node, run.pod), of, file), 'utf8').trim();
    const applied = (of = id) => ({
      quota: cgroupFile('cpu', 'cpu.cfs_quota_us', of), shares: cgroupFile('cpu', 'cpu.shares', of), memory: cgroupFile('memory', 'memory.limit_in_bytes', of),
    });
    const reported = async (of = id) => {
      const r = (await cri().runtime.ContainerStatus({ containerId: of })).status!.resources!.linux!;
      return { quota: String(r.cpuQuota), shares: String(r.cpuShares), memory: String(r.memoryLimitInBytes) };
    };
    /** The pod with container `name`'s requests and limits changed (what the API server holds after a resize). */
    const resized = (pod: Pod, cpu: { request: number; limit: number }, memory: number, name = 'app'): Pod => ({
      ...pod,
      containers: pod.containers.map((c) => (c.name !== name ? c : {
        ...c, resources: { requests: { cpu: cpu.request, memory: 64 * Mi }, limits: { cpu: cpu.limit, memory } },
      })),
    });

    beforeAll(async () => {
      // 32 MiB in the pod's /dev/shm tmpfs, charged to the container's memory cgroup and not reclaimable without swap
      run = await startPod(deploymentPodOf(LOCAL_BUSYBOX, [{
        name: 'app', command: ['/bin/sh', '-c', 'busybox dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=32 2>/dev/null; touch /tmp/filled; trap "exit 0" TERM; while :; do sleep 1; done'],
      }, { name: 'later', command: SLEEP }]));
      id = await startContainer(run, 'app', k().image);
      await until(async () => (await exec(id, ['ls', '/tmp/filled'])).exitCode === 0, 'the container to fill /dev/shm');
    });

    it('as created: the limits kubelet gave (cpu 100m/500m, memory 128Mi) in the cgroup files and ContainerStatus.resources', async () => {
      expect(applied()).toEqual({ quota: '50000', shares: '102', memory: String(128 * Mi) });
      expect(await reported()).toEqual(applied());
    });

    it('UpdatePodSandboxResources is recorded; UpdateContainerResources on the running container changes its cgroup and its status', async () => {
      const next = resized(run.pod, { request: 200, limit: 700 }, 192 * Mi);
      const podReq = podResizeRequest(k().node, next, run.id);
      await cri().runtime.UpdatePodSandboxResources(podReq);
      const info = JSON.parse((await cri().runtime.PodSandboxStatus({ podSandboxId: run.id, verbose: true })).info.info!) as {
        podResources: { resources: Record<string, unknown> };
      };
      // the pod's totals: app (200m/700m, 192Mi) + later (100m/500m, 128Mi)
      expect(info.podResources.resources).toMatchObject({ cpuQuota: '120000', cpuShares: '307', memoryLimitInBytes: String(320 * Mi) });

      await cri().runtime.UpdateContainerResources(containerResizeRequest(k().node, next, 'app', id));
      expect(applied()).toEqual({ quota: '70000', shares: '204', memory: String(192 * Mi) });
      expect(await reported()).toEqual(applied());
      run = { ...run, pod: next };
    });

    it('a memory limit below the usage is FAILED_PRECONDITION naming the kernel\'s refusal; the cgroup and the status keep the old values', async () => {
      const before = applied();
      const next = resized(run.pod, { request: 300, limit: 900 }, 16 * Mi);
      const err = await cri().runtime.UpdateContainerResources(containerResizeRequest(k().node, next, 'app', id)).then(() => undefined, (e: unknown) => e);
      expect(isKind(err, 'failed-precondition')).toBe(true);
      expect((err as Error).message).toMatch(/the host refused the new resources.*unable to set memory limit to 16777216 \(current usage: \d+/s);
      expect(applied()).toEqual(before);
      expect(await reported()).toEqual(before);
      expect(b().daemonLog()).toMatch(/"method":"UpdateContainerResources".*"code":9/);
    });

    it('UpdatePodSandboxResources: an unknown pod is NotFound, a negative value InvalidArgument (nothing recorded)', async () => {
      const unknown = await cri().runtime.UpdatePodSandboxResources({ podSandboxId: 'f'.repeat(64), resources: {} }).then(() => undefined, (e: unknown) => e);
      expect(isKind(unknown, 'not-found')).toBe(true);
      const bad = await cri().runtime.UpdatePodSandboxResources({ podSandboxId: run.id, resources: { cpuShares: -5 } }).then(() => undefined, (e: unknown) => e);
      expect(isKind(bad, 'invalid-argument')).toBe(true);
      expect((bad as Error).message).toMatch(/cpu_shares must not be negative/);
      const info = JSON.parse((await cri().runtime.PodSandboxStatus({ podSandboxId: run.id, verbose: true })).info.info!) as {
        podResources: { resources: Record<string, unknown> };
      };
      expect(info.podResources.resources.cpuShares).toBe('307');
    });

    it('a CREATED container: the resize goes into its spec, its status, and its cgroup from the start', async () => {
      const c = run.pod.containers.find((x) => x.name === 'later')!;
      const config = containerConfig(k().node, run.pod, c, { attempt: 0, podIPs: run.podIPs, image: k().image });
      const { containerId: later } = await cri().runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config });
      const next = resized(run.pod, { request: 250, limit: 300 }, 96 * Mi, 'later');
      await cri().runtime.UpdateContainerResources(containerResizeRequest(k().node, next, 'later', later));
      const want = { quota: '30000', shares: '256', memory: String(96 * Mi) };
      expect(await reported(later)).toEqual(want);
      await cri().runtime.StartContainer({ containerId: later });
      expect(applied(later)).toEqual(want);
    });
  });

  it('no staged rro mount or directory is left for any container', () => {
    expect(mountsUnder(stagedRoot())).toEqual([]);
    expect(existsSync(stagedRoot()) ? readdirSync(stagedRoot()) : []).toEqual([]);
  });
});
