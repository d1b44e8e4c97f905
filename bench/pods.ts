// The CRI calls every figure makes, written once and used for both daemons: pods of busybox
// containers with the configs kubelet 1.32 sends for them (test/fixtures/kubelet-pods.ts: pid
// CONTAINER, network and IPC POD, the pod's hostname, /var/log/pods-style log dir, ClusterFirst
// DNS, a Burstable container with its termination-log file, the image by id), and the container
// states read back.
import { randomUUID } from 'node:crypto';
import type {
  CriMethodTable, CriRequest, CriResponse, ImageServiceMethods, runtime, RuntimeServiceMethods, UnaryMethodNames,
} from '../proto/cri.js';
import { InternalError } from '../common/index.js';
import {
  containerConfig, imageUser, kubeletNode, Mi, podSandboxConfig, setUpPod,
  type Container, type KubeletImage, type KubeletNode, type Pod as KubeletPod,
} from '../test/fixtures/kubelet-pods.js';
import { rand } from './proc.js';

type PodConfig = runtime.v1.PodSandboxConfig.$Properties;

/** The unary calls of a CRI service, as both clients give them (grpc-js in proto/cri.ts, Go in test/helpers/go-cri.ts). */
export type UnaryCri<T extends CriMethodTable> = {
  [K in UnaryMethodNames<T>]: (request: CriRequest<T, K>, options?: { timeoutMs?: number }) => Promise<CriResponse<T, K>>;
};

/** What the pod helpers drive: a daemon's CRI client (either kind) and its runtime handler. */
export interface CriTarget {
  readonly handler: string;
  readonly client: { readonly runtime: UnaryCri<RuntimeServiceMethods>; readonly image: UnaryCri<ImageServiceMethods> };
}
export const CONTAINER_RUNNING = 1;
export const CONTAINER_EXITED = 2;

export interface PodEnv {
  /** Where pod log directories go (kubelet's /var/log/pods). */
  logRoot: string;
  /** kubelet's --root-dir: pod dirs and termination-log files. */
  kubeletRoot: string;
  /** busybox as the pod spec names it, and as EnsureImageExists resolved it (CreateContainer gets its id). */
  busybox: string;
  busyboxImage: KubeletImage;
  /**
   * When set, the kubepods cgroup (cgroupfs form): each pod gets `linux.cgroup_parent` =
   * `<cgroupRoot>/burstable/pod<uid>` as kubelet's cgroupfs driver gives a Burstable pod;
   * containerd's pod stats need one. Unset: no cgroup parent.
   */
  cgroupRoot?: string;
}

export interface Pod {
  id: string;
  config: PodConfig;
  containers: string[];
  /** The Pod the configs are made from; addContainer adds its containers (and their hostPath volumes) to it. */
  model: KubeletPod;
}

const nodes = new Map<string, KubeletNode>();

/** The node as kubelet sees it, one per log root, kubelet root and cgroup root. */
function nodeOf(env: PodEnv): KubeletNode {
  const key = `${env.logRoot}\0${env.kubeletRoot}\0${env.cgroupRoot ?? ''}`;
  let node = nodes.get(key);
  if (!node) nodes.set(key, (node = kubeletNode({ kubeletRoot: env.kubeletRoot, podLogsRoot: env.logRoot, cgroupRoot: env.cgroupRoot ?? '' })));
  return node;
}

/** The ImageStatus answer as kubelet's EnsureImageExists keeps it: id, name, user. */
export function kubeletImageOf(name: string, image: runtime.v1.Image.$Properties): KubeletImage {
  return { ref: image.id ?? '', name, ...imageUser(image) };
}

/** A bench container: busybox, Burstable (requests only, as most Deployment pods), kubelet's termination log. */
function benchContainer(env: PodEnv, name: string, command: string[]): Container {
  return {
    name, image: env.busybox, command, args: [],
    resources: { requests: { cpu: 100, memory: 64 * Mi } },
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
  };
}

/** A bare Deployment-like pod (no volumes, no probe), its containers added as they are made. */
function benchPod(env: PodEnv, name: string): KubeletPod {
  return {
    name, namespace: 'bench', uid: randomUUID(), labels: { app: 'bench' }, annotations: { 'kubernetes.io/config.source': 'api' },
    dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30, securityContext: {},
    initContainers: [], containers: [benchContainer(env, 'sleep', SLEEP)], volumes: [],
  };
}

/** kubelet's pod dirs and log dir, then generatePodSandboxConfig (no cgroup parent without a cgroup root). */
export function podConfig(env: PodEnv, model: KubeletPod): PodConfig {
  const node = nodeOf(env);
  setUpPod(node, model);
  const config = podSandboxConfig(node, model);
  return env.cgroupRoot === undefined ? { ...config, linux: { ...config.linux, cgroupParent: '' } } : config;
}

export async function runPod(d: CriTarget, env: PodEnv, name = `p-${rand()}`): Promise<Pod> {
  const model = benchPod(env, name);
  const config = podConfig(env, model);
  const res = await d.client.runtime.RunPodSandbox({ config, runtimeHandler: d.handler });
  return { id: res.podSandboxId, config, containers: [], model };
}

export interface ContainerOpts {
  command: string[];
  /** Host directories, bind-mounted read-write (hostPath volumes of the pod). */
  mounts?: { containerPath: string; hostPath: string }[];
  start?: boolean;
}

/** generateContainerConfig + CreateContainer (+ StartContainer unless `start: false`); returns the container id. */
export async function addContainer(d: CriTarget, env: PodEnv, pod: Pod, name: string, o: ContainerOpts): Promise<string> {
  const rt = d.client.runtime;
  const volumeMounts = (o.mounts ?? []).map((m, i) => {
    const volume = `${name}-host${i}`;
    pod.model.volumes.push({ name: volume, kind: 'hostPath', path: m.hostPath, type: '' });
    return { name: volume, mountPath: m.containerPath };
  });
  const c: Container = { ...benchContainer(env, name, o.command), volumeMounts };
  const others = pod.model.containers.filter((x) => x.name !== name);
  pod.model = { ...pod.model, containers: [...others, c] };
  // podIPs none: no /etc/hosts mount, so the unit of work stays RunPodSandbox + CreateContainer + StartContainer.
  const config = containerConfig(nodeOf(env), pod.model, c, { attempt: 0, podIPs: [], image: env.busyboxImage });
  const created = await rt.CreateContainer({ podSandboxId: pod.id, config, sandboxConfig: pod.config });
  pod.containers.push(created.containerId);
  if (o.start !== false) await rt.StartContainer({ containerId: created.containerId });
  return created.containerId;
}

export const SLEEP = ['sleep', '2147483647'];

export interface Phases {
  run: number;
  create: number;
  start: number;
}

/** Figure 1's unit of work: a pod with one running `sleep` container, verified RUNNING. */
export async function startPodWithSleep(d: CriTarget, env: PodEnv, phases?: Phases[]): Promise<Pod> {
  const t0 = performance.now();
  const pod = await runPod(d, env);
  const t1 = performance.now();
  const cid = await addContainer(d, env, pod, 'sleep', { command: SLEEP, start: false });
  const t2 = performance.now();
  await d.client.runtime.StartContainer({ containerId: cid });
  phases?.push({ run: t1 - t0, create: t2 - t1, start: performance.now() - t2 });
  const st = await d.client.runtime.ContainerStatus({ containerId: cid });
  if (st.status?.state !== CONTAINER_RUNNING) throw new InternalError(`container ${cid} is not running after StartContainer (state ${st.status?.state})`);
  return pod;
}

export async function removePod(d: CriTarget, podId: string): Promise<void> {
  await d.client.runtime.StopPodSandbox({ podSandboxId: podId });
  await d.client.runtime.RemovePodSandbox({ podSandboxId: podId });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
