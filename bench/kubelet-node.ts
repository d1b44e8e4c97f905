// Kubelet-shaped pods on a berth started by the test harness (test/integration/cri-harness.ts), driven
// by the Go CRI client on one kept connection (test/helpers/go-cri.ts) with kubelet's Deployment
// configs (test/fixtures/kubelet-pods.ts: pid CONTAINER, a Burstable cgroup parent, volumes, DNS).
// Shared by the berth-alone benches: bench/pauseless.ts and bench/daemon-memory.ts.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { podCgroupParent, podSandboxConfig, setUpPod, imageUser, kubeletNode, type KubeletImage, type KubeletNode } from '../test/fixtures/kubelet-pods.js';
import { startGoCri, type GoCriClients } from '../test/helpers/go-cri.js';
import { createKubeletContainer, deploymentPodOf, removeCgroupTree, testCgroupRoot, type KubeletPodRun } from '../test/helpers/kubelet-pod-run.js';
import { LOCAL_BUSYBOX, type Berth } from '../test/integration/cri-harness.js';

export const SLEEP = ['sleep', '2147483647'];

export const children = (pid: number) => readdirSync(`/proc/${pid}/task`)
  .flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
export const inContainer = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
};
export const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

/** The pid of the daemon serving `b`. */
export function daemonPid(b: Berth): number {
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const argv = cmdline(Number(p));
      if (argv.includes('--address') && argv[argv.indexOf('--address') + 1] === b.address) return Number(p);
    } catch {
      // gone
    }
  }
  throw new Error('berth daemon not found');
}

export interface KubeletBench {
  go: GoCriClients;
  /** Runs one pod of sleeping containers named `names`: its total time and RunPodSandbox's. */
  run(names: string[]): Promise<{ total: number; runp: number }>;
  /** Ids of the pods run and not yet removed. */
  pods(): string[];
  /** Stops and removes every pod run so far. */
  removeAll(): Promise<void>;
  close(): Promise<void>;
}

/** A kubelet node on `b`: a temp kubelet root, a cgroup root of its own, the local busybox pulled. */
export async function kubeletBench(b: Berth): Promise<KubeletBench> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-kubelet-bench-'));
  const cgroupRoot = testCgroupRoot();
  const go = await startGoCri(b.address, { dial: 'bare', conn: 'kept' });
  const node: KubeletNode = kubeletNode({ kubeletRoot: path.join(tmp, 'kubelet'), podLogsRoot: path.join(b.logDir, 'pods'), cgroupRoot });
  await go.image.PullImage({ image: { image: LOCAL_BUSYBOX } }); // built on the machine
  const st = (await go.image.ImageStatus({ image: { image: LOCAL_BUSYBOX } })).image!;
  const image: KubeletImage = { ref: st.id!, name: LOCAL_BUSYBOX, ...imageUser(st) };
  const runs: KubeletPodRun[] = [];
  const removeAll = async () => {
    for (const r of runs.splice(0)) {
      await go.runtime.StopPodSandbox({ podSandboxId: r.id });
      await go.runtime.RemovePodSandbox({ podSandboxId: r.id });
      removeCgroupTree(podCgroupParent(node, r.pod));
    }
  };
  return {
    go,
    async run(names) {
      const pod = deploymentPodOf(LOCAL_BUSYBOX, names.map((name) => ({ name, command: SLEEP })));
      setUpPod(node, pod);
      const config = podSandboxConfig(node, pod) as KubeletPodRun['config'];
      const t0 = performance.now();
      const { podSandboxId: id } = await go.runtime.RunPodSandbox({ config, runtimeHandler: '' });
      const runp = performance.now() - t0;
      const r: KubeletPodRun = { pod, id, config, podIPs: [] };
      runs.push(r);
      for (const name of names) {
        const containerId = await createKubeletContainer(go, { node, image }, r, name);
        await go.runtime.StartContainer({ containerId });
      }
      return { total: performance.now() - t0, runp };
    },
    pods: () => runs.map((r) => r.id),
    removeAll,
    async close() {
      try {
        await removeAll();
      } finally {
        await go.close();
        removeCgroupTree(cgroupRoot);
        await rm(tmp, { recursive: true, force: true });
      }
    },
  };
}
