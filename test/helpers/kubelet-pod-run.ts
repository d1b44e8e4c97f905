// What the integration tests share to run pods the way kubelet 1.32 does (configs from
// test/fixtures/kubelet-pods.ts) through the Go CRI client: a node of the calling describe block
// (a temp kubelet root, pod logs under the daemon's, a kubepods cgroup root of its own, all removed
// after), the cgroup tree helpers, and a Deployment pod whose containers a test names and commands.
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { runtime } from '../../proto/cri.js';
import {
  containerConfig, deploymentPod, imageUser, kubeletNode, podCgroupParent, podSandboxConfig, setUpPod,
  type Container, type KubeletImage, type KubeletNode, type Pod,
} from '../fixtures/kubelet-pods.js';
import type { GoCriClients } from './go-cri.js';

export const CGROUP_FS = '/sys/fs/cgroup';

/** The directories of cgroup `rel` in every hierarchy it exists in. */
export function cgroupDirs(rel: string): string[] {
  if (existsSync(path.join(CGROUP_FS, 'cgroup.controllers'))) return existsSync(path.join(CGROUP_FS, rel)) ? [path.join(CGROUP_FS, rel)] : [];
  return readdirSync(CGROUP_FS).map((h) => path.join(CGROUP_FS, h, rel)).filter((d) => existsSync(d));
}

export const childCgroups = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));

/** Removes cgroup `rel` and everything below it, deepest first; returns what could not go. */
export function removeCgroupTree(rel: string): string[] {
  const failed: string[] = [];
  const remove = (dir: string) => {
    for (const child of childCgroups(dir)) remove(child);
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(`${dir}: ${(err as Error).message}`);
    }
  };
  for (const dir of cgroupDirs(rel)) remove(dir);
  return failed;
}

/** A kubepods cgroup root of this test process's own (kubelet's is /kubepods). */
export const testCgroupRoot = () => `/kubepods-berthtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** The calls a kubelet makes; the grpc-js clients (Berth.cri) fit it too. */
export type KubeletCri = Pick<GoCriClients, 'runtime' | 'image'>;

export interface KubeletSetup {
  node: KubeletNode;
  /** The busybox image as EnsureImageExists found it (its id is what CreateContainer gets). */
  image: KubeletImage;
}

/**
 * A kubelet node for the calling describe block: set up in beforeAll once `ready` gives the
 * daemon's pod log dir and the client, torn down (temp dir, the cgroup root) in afterAll.
 */
export function useKubeletNode(ready: () => Promise<{ logDir: string; cri: KubeletCri; imageName: string }>): () => KubeletSetup {
  const cgroupRoot = testCgroupRoot();
  let tmp = '';
  let setup: KubeletSetup | undefined;
  beforeAll(async () => {
    const { logDir, cri, imageName } = await ready();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-kubelet-'));
    const node = kubeletNode({ kubeletRoot: path.join(tmp, 'kubelet'), podLogsRoot: path.join(logDir, 'pods'), cgroupRoot });
    // EnsureImageExists: the image is present, so kubelet only asks for its id and user.
    const st = (await cri.image.ImageStatus({ image: { image: imageName } })).image!;
    setup = { node, image: { ref: st.id!, name: imageName, ...imageUser(st) } };
  }, 600_000);
  afterAll(async () => {
    const failed = removeCgroupTree(cgroupRoot);
    if (tmp) await rm(tmp, { recursive: true, force: true });
    if (failed.length) throw new Error(`cgroups left under ${cgroupRoot}:\n${failed.join('\n')}`);
  });
  return () => setup!;
}

/**
 * A Deployment replica (deploymentPod) whose app containers are `containers`, each the
 * Deployment's container with that name and command (no probe; the port on the first only).
 */
export function deploymentPodOf(image: string, containers: Array<{ name: string; command: string[] } & Partial<Container>>): Pod {
  const pod = deploymentPod({ image });
  const [web] = pod.containers as [Container];
  return {
    ...pod,
    containers: containers.map(({ name, command, ...rest }, i) => ({
      ...web, name, command, args: [], probe: undefined, ...(i === 0 ? {} : { ports: undefined }), ...rest,
    })),
  };
}

export interface KubeletPodRun {
  pod: Pod;
  id: string;
  config: runtime.v1.PodSandboxConfig.$Properties & { logDirectory: string };
  podIPs: string[];
}

/** createPodSandbox: kubelet's pod dirs and volumes, RunPodSandbox, the pod's IPs as SyncPod gets them. */
export async function runKubeletPod(cri: KubeletCri, { node }: KubeletSetup, pod: Pod): Promise<KubeletPodRun> {
  setUpPod(node, pod);
  const config = podSandboxConfig(node, pod) as KubeletPodRun['config'];
  const { podSandboxId: id } = await cri.runtime.RunPodSandbox({ config, runtimeHandler: '' });
  const st = (await cri.runtime.PodSandboxStatus({ podSandboxId: id })).status!;
  const podIPs = pod.hostNetwork ? node.nodeIPs : [st.network!.ip!, ...(st.network!.additionalIps ?? []).map((a) => a.ip!)];
  return { pod, id, config, podIPs };
}

/** generateContainerConfig and CreateContainer for the pod's container `name` (not started). */
export async function createKubeletContainer(
  cri: KubeletCri, { node, image }: KubeletSetup, run: KubeletPodRun, name: string,
  extra: Partial<runtime.v1.ContainerConfig.$Properties> = {},
): Promise<string> {
  const c = run.pod.containers.find((x) => x.name === name);
  if (!c) throw new Error(`pod ${run.pod.name} has no container ${name}`);
  const config = { ...containerConfig(node, run.pod, c, { attempt: 0, podIPs: run.podIPs, image }), ...extra };
  return (await cri.runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config })).containerId;
}

/** StopPodSandbox, RemovePodSandbox, then the pod's cgroup (kubelet's to remove); throws if any is left. */
export async function removeKubeletPod(cri: KubeletCri, { node }: KubeletSetup, run: KubeletPodRun): Promise<void> {
  await cri.runtime.StopPodSandbox({ podSandboxId: run.id });
  await cri.runtime.RemovePodSandbox({ podSandboxId: run.id });
  const failed = removeCgroupTree(podCgroupParent(node, run.pod));
  if (failed.length) throw new Error(`pod cgroups left:\n${failed.join('\n')}`);
}
