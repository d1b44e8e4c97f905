// What kubelet sends that berth must take as containerd does, on a real berth daemon under each
// runtime handler: the sandbox's pid mode CONTAINER (every pod without hostPID or
// shareProcessNamespace), selinux_relabel on volume mounts and SELinux options on a host without
// SELinux, and Stop*/Remove* of what is already gone (kubelet retries them; the CRI conformance
// suite checks them). On a host without AppArmor, RuntimeDefault runs and a Localhost profile is
// refused. The client is a parameter: the same cases run through grpc-js here and through a
// Go client where test/helpers/go-cri.ts provides one. Rules: docs/cri.md, docs/oci-spec.md.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime, type CriClients } from '../../proto/cri.js';
import { startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const { NamespaceMode } = v1;
const { ProfileType } = v1.SecurityProfile;

type Runtime = CriClients['runtime'];
type Image = CriClients['image'];
/** The calls these cases make: both the grpc-js CriClients and the Go client have this shape. */
export interface KubeletCri {
  runtime: Pick<Runtime, 'RunPodSandbox' | 'PodSandboxStatus' | 'StopPodSandbox' | 'RemovePodSandbox' | 'ListPodSandbox'
    | 'CreateContainer' | 'StartContainer' | 'ContainerStatus' | 'StopContainer' | 'RemoveContainer' | 'ListContainers'>;
  image: Pick<Image, 'RemoveImage' | 'ImageStatus'>;
}

const selinuxOn = existsSync('/sys/fs/selinux/enforce');
const apparmorOn = (() => {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
})();

/** kubelet's NamespaceOption for a pod without hostNetwork/hostIPC/hostPID/shareProcessNamespace. */
const KUBELET_NS = { network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD };
const SELINUX = { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c12,c34' };
const unknownId = () => randomBytes(32).toString('hex');
const pidNs = (pid: number | 'self') => readlinkSync(`/proc/${pid}/ns/pid`);

function container(name: string, script: string, extra: Record<string, unknown> = {}) {
  return { metadata: { name, attempt: 0 }, image: { image: LOCAL_BUSYBOX }, command: ['/bin/sh', '-c', script], logPath: `${name}/0.log`, ...extra };
}

/** The cases, run against the daemon `b()` through the client `cri()`. */
function kubeletCases(b: () => Berth, cri: () => KubeletCri) {
  const made: string[] = [];
  afterAll(async () => {
    for (const id of made) {
      await cri().runtime.StopPodSandbox({ podSandboxId: id }).catch(() => undefined);
      await cri().runtime.RemovePodSandbox({ podSandboxId: id }).catch(() => undefined);
    }
  });
  const runPod = async (name: string, securityContext: Record<string, unknown>) => {
    const config = podConfig(b(), name, { linux: { securityContext } });
    const { podSandboxId } = await cri().runtime.RunPodSandbox({ config });
    made.push(podSandboxId);
    return { id: podSandboxId, config };
  };
  const pidOf = async (id: string, kind: 'pod' | 'container') => {
    const info = kind === 'pod'
      ? (await cri().runtime.PodSandboxStatus({ podSandboxId: id, verbose: true })).info.info
      : (await cri().runtime.ContainerStatus({ containerId: id, verbose: true })).info.info;
    return (JSON.parse(info!) as { pid: number }).pid;
  };
  const exited = (containerId: string) => until(async () => {
    const s = (await cri().runtime.ContainerStatus({ containerId })).status!;
    return s.state === v1.ContainerState.CONTAINER_EXITED ? s : undefined;
  }, `container ${containerId} to exit`);

  it('a pod with kubelet\'s pid mode CONTAINER runs without a pause process; each container has its own pid namespace, also one asking for the pod\'s', async () => {
    const pod = await runPod('pidcontainer', { namespaceOptions: KUBELET_NS });
    const st = await cri().runtime.PodSandboxStatus({ podSandboxId: pod.id });
    expect(st.status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    expect(st.status!.linux!.namespaces!.options!.pid).toBe(NamespaceMode.CONTAINER);
    expect(await pidOf(pod.id, 'pod')).toBe(0); // docs/cri.md "Pods without a pause process"

    const started = async (name: string, namespaceOptions?: typeof KUBELET_NS) => {
      const { containerId } = await cri().runtime.CreateContainer({
        podSandboxId: pod.id, sandboxConfig: pod.config,
        config: container(name, 'sleep 60', namespaceOptions ? { linux: { securityContext: { namespaceOptions } } } : {}),
      });
      await cri().runtime.StartContainer({ containerId });
      return pidOf(containerId, 'container');
    };
    const app = await started('app', KUBELET_NS);
    const plain = await started('plain'); // no namespace options: pid POD
    expect(new Set([pidNs(app), pidNs(plain), pidNs('self')]).size).toBe(3);
    await cri().runtime.StopPodSandbox({ podSandboxId: pod.id });
    await cri().runtime.RemovePodSandbox({ podSandboxId: pod.id });
  });

  it.skipIf(selinuxOn)('selinux_relabel mounts and SELinux options are ignored on a host without SELinux (logged at debug)', async () => {
    const pod = await runPod('selinux', { namespaceOptions: KUBELET_NS, selinuxOptions: SELINUX });
    const volume = mkdtempSync(path.join(os.tmpdir(), 'berth-emptydir-'));
    try {
      const { containerId } = await cri().runtime.CreateContainer({
        podSandboxId: pod.id, sandboxConfig: pod.config,
        config: container('writer', 'echo written > /data/out', {
          mounts: [{ containerPath: '/data', hostPath: volume, selinuxRelabel: true }],
          linux: { securityContext: { namespaceOptions: KUBELET_NS, selinuxOptions: SELINUX } },
        }),
      });
      await cri().runtime.StartContainer({ containerId });
      expect((await exited(containerId)).exitCode).toBe(0);
      expect(readFileSync(path.join(volume, 'out'), 'utf8')).toBe('written\n');
      const spec = (JSON.parse((await cri().runtime.ContainerStatus({ containerId, verbose: true })).info.info!) as {
        runtimeSpec: { process: { selinuxLabel?: string }; linux: { mountLabel?: string } };
      }).runtimeSpec;
      expect([spec.process.selinuxLabel, spec.linux.mountLabel]).toEqual([undefined, undefined]);
      // The daemon says what it ignored, for this container and this pod (pino: level 20 = debug).
      const debug = b().daemonLog().split('\n').filter((l) => l.includes('"level":20') && /selinux/i.test(l));
      expect(debug.some((l) => l.includes(containerId) && l.includes('/data'))).toBe(true);
      expect(debug.some((l) => l.includes(pod.id) && !l.includes(containerId))).toBe(true);
    } finally {
      rmSync(volume, { recursive: true, force: true });
    }
  });

  it('Stop and Remove of pods, containers and images that do not exist succeed', async () => {
    await cri().runtime.StopContainer({ containerId: unknownId(), timeout: 10 });
    await cri().runtime.RemoveContainer({ containerId: unknownId() });
    await cri().runtime.StopPodSandbox({ podSandboxId: unknownId() });
    await cri().runtime.RemovePodSandbox({ podSandboxId: unknownId() });
    await cri().image.RemoveImage({ image: { image: 'berth.local/never-pulled:1' } });
    await cri().image.RemoveImage({ image: { image: `sha256:${unknownId()}` } });
  });

  it('Stop and Remove of a pod and a container already removed succeed, and a Stop racing a Remove leaves nothing half done', async () => {
    const pod = await runPod('gone', { namespaceOptions: KUBELET_NS });
    const create = async (name: string) => {
      const { containerId } = await cri().runtime.CreateContainer({ podSandboxId: pod.id, sandboxConfig: pod.config, config: container(name, 'sleep 60') });
      await cri().runtime.StartContainer({ containerId });
      return containerId;
    };
    const first = await create('first');
    const second = await create('second');
    // Remove sent first: by the time the Stop holds the container, it is gone.
    await Promise.all([cri().runtime.RemoveContainer({ containerId: first }), cri().runtime.StopContainer({ containerId: first, timeout: 0 })]);
    await cri().runtime.StopContainer({ containerId: first, timeout: 10 });
    await cri().runtime.RemoveContainer({ containerId: first });
    const left = (await cri().runtime.ListContainers({ filter: { podSandboxId: pod.id } })).containers.map((c) => c.id);
    expect(left).toEqual([second]);

    await cri().runtime.StopPodSandbox({ podSandboxId: pod.id });
    await Promise.all([cri().runtime.RemovePodSandbox({ podSandboxId: pod.id }), cri().runtime.StopPodSandbox({ podSandboxId: pod.id })]);
    await cri().runtime.StopPodSandbox({ podSandboxId: pod.id });
    await cri().runtime.RemovePodSandbox({ podSandboxId: pod.id });
    await cri().runtime.StopContainer({ containerId: second, timeout: 0 });
    await cri().runtime.RemoveContainer({ containerId: second });
    expect((await cri().runtime.ListPodSandbox({ filter: { id: pod.id } })).items).toEqual([]);
    expect((await cri().runtime.ListContainers({ filter: { podSandboxId: pod.id } })).containers).toEqual([]);
  });

  it.skipIf(apparmorOn)('a Localhost AppArmor profile is refused on a host without AppArmor, with a status naming it; RuntimeDefault and Unconfined run', async () => {
    const pod = await runPod('apparmor', { namespaceOptions: KUBELET_NS });
    const create = (name: string, securityContext: Record<string, unknown>) => cri().runtime.CreateContainer({
      podSandboxId: pod.id, sandboxConfig: pod.config, config: container(name, 'true', { linux: { securityContext } }),
    });
    const refused = [
      ['localhost', { apparmor: { profileType: ProfileType.Localhost, localhostRef: 'localhost/k8s-deny-write' } }, 'k8s-deny-write'],
      ['legacy-localhost', { apparmorProfile: 'localhost/k8s-deny-write' }, 'k8s-deny-write'],
    ] as const;
    for (const [name, sc, named] of refused) {
      const err = await create(name, sc).then(() => undefined, (e: unknown) => e);
      expect(isKind(err, 'failed-precondition'), `${name}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toMatch(/AppArmor is not enabled on this host/);
      expect((err as Error).message).toContain(named);
    }
    expect((await cri().runtime.ListContainers({ filter: { podSandboxId: pod.id } })).containers).toEqual([]);
    for (const [name, sc] of [
      ['unconfined', { apparmor: { profileType: ProfileType.Unconfined } }],
      ['runtime-default', { apparmor: { profileType: ProfileType.RuntimeDefault } }],
      ['legacy-runtime-default', { apparmorProfile: 'runtime/default' }],
    ] as const) {
      const { containerId } = await create(name, sc);
      await cri().runtime.StartContainer({ containerId });
      expect((await exited(containerId)).exitCode, name).toBe(0);
    }
  });
}

describe.each(CRI_HANDLERS)('what kubelet sends, on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  describe('through grpc-js', () => {
    kubeletCases(berth, () => berth().cri);
  });
  describe('through grpc-go, dialling the bare socket path as kubelet and crictl 1.26 do', () => {
    let go: GoCriClients | undefined;
    beforeAll(async () => {
      go = await startGoCri(berth().address, { dial: 'bare' });
    }, 600_000);
    // Registered before the cases' own afterAll, so it runs after it (hooks unwind as a stack).
    afterAll(async () => {
      await go?.close();
    });
    kubeletCases(berth, () => {
      if (!go) throw new Error('the Go client did not start');
      return go;
    });
  });
});
