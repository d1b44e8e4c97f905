// The CRI calls every figure makes, written once and used for both daemons: pods of a pause
// sandbox plus busybox containers, with the same configs kubelet would send (metadata, log
// paths, labels), and the container states read back.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type {
  CriMethodTable, CriRequest, CriResponse, ImageServiceMethods, runtime, RuntimeServiceMethods, UnaryMethodNames,
} from '../proto/cri.js';
import { InternalError } from '../common/index.js';
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
  busybox: string;
  /**
   * When set, each pod gets `linux.cgroup_parent` = `<cgroupRoot>/pod<uid>` as kubelet's cgroupfs
   * driver gives (`/kubepods/besteffort/pod<uid>`); containerd's pod stats need one.
   */
  cgroupRoot?: string;
}

export interface Pod {
  id: string;
  config: PodConfig;
  containers: string[];
}

export async function podConfig(env: PodEnv, name: string): Promise<PodConfig> {
  const uid = `uid-${name}`;
  const logDirectory = path.join(env.logRoot, `bench_${name}_${uid}`);
  await mkdir(logDirectory, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'bench', attempt: 0 },
    hostname: name.slice(0, 63),
    logDirectory,
    labels: { app: 'bench', 'io.kubernetes.pod.name': name },
    annotations: {},
    linux: { securityContext: { namespaceOptions: {} }, ...(env.cgroupRoot ? { cgroupParent: `${env.cgroupRoot}/pod${uid}` } : {}) },
  };
}

export async function runPod(d: CriTarget, env: PodEnv, name = `p-${rand()}`): Promise<Pod> {
  const config = await podConfig(env, name);
  const res = await d.client.runtime.RunPodSandbox({ config, runtimeHandler: d.handler });
  return { id: res.podSandboxId, config, containers: [] };
}

export interface ContainerOpts {
  command: string[];
  mounts?: { containerPath: string; hostPath: string }[];
  start?: boolean;
}

/** CreateContainer (+ StartContainer unless `start: false`); returns the container id. */
export async function addContainer(d: CriTarget, env: PodEnv, pod: Pod, name: string, o: ContainerOpts): Promise<string> {
  const rt = d.client.runtime;
  const created = await rt.CreateContainer({
    podSandboxId: pod.id,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: env.busybox },
      command: o.command,
      logPath: `${name}_0.log`,
      labels: { app: 'bench' },
      mounts: (o.mounts ?? []).map((m) => ({ ...m, readonly: false })),
      linux: { resources: {}, securityContext: { namespaceOptions: {} } },
    },
    sandboxConfig: pod.config,
  });
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
