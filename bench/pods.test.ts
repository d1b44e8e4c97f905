// The requests the bench's pod helpers send: kubelet's shapes (test/fixtures/kubelet-pods.ts),
// the same for both daemons. A recording stand-in takes the calls; the files kubelet would have
// made (pod log dir, termination-log file) are checked on disk.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../proto/cri.js';
import { addContainer, runPod, SLEEP, type CriTarget, type PodEnv } from './pods.js';

const { NamespaceMode } = runtime.v1;

type Sent = { method: string; req: Record<string, unknown> };

function recorder(): { target: CriTarget; sent: Sent[] } {
  const sent: Sent[] = [];
  let n = 0;
  const answer = (method: string) => async (req: Record<string, unknown>) => {
    sent.push({ method, req });
    return { podSandboxId: `pod${n}`, containerId: `ctr${n++}` };
  };
  const runtimeCalls = new Proxy({}, { get: (_, method: string) => answer(method) });
  return { target: { handler: 'runc', client: { runtime: runtimeCalls, image: runtimeCalls } } as unknown as CriTarget, sent };
}

let dir = '';
let env: PodEnv;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-pods-'));
  env = {
    logRoot: path.join(dir, 'pods'), kubeletRoot: path.join(dir, 'kubelet'), busybox: 'registry.local/bench/busybox:1',
    busyboxImage: { ref: 'sha256:0123', name: 'registry.local/bench/busybox:1', uid: 0 },
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bench pods are kubelet-shaped', () => {
  it('RunPodSandbox: pid CONTAINER, network and IPC POD, hostname, kubelet log dir, no cgroup parent without a cgroup root', async () => {
    const { target, sent } = recorder();
    const pod = await runPod(target, env, 'p-one');
    const [{ method, req }] = sent as [Sent];
    expect(method).toBe('RunPodSandbox');
    expect(req.runtimeHandler).toBe('runc');
    const config = req.config as runtime.v1.PodSandboxConfig.$Properties;
    expect(config.linux?.securityContext?.namespaceOptions).toMatchObject({ network: NamespaceMode.POD, ipc: NamespaceMode.POD, pid: NamespaceMode.CONTAINER });
    expect(config.hostname).toBe('p-one');
    expect(config.metadata).toMatchObject({ name: 'p-one', namespace: 'bench', attempt: 0 });
    expect(config.logDirectory).toBe(path.join(env.logRoot, `bench_p-one_${config.metadata!.uid}`));
    expect(existsSync(config.logDirectory!)).toBe(true);
    expect(config.linux?.cgroupParent).toBe('');
    expect(pod.config).toBe(config);
  });

  it('with a cgroup root: the Burstable pod cgroup kubelet\'s cgroupfs driver gives', async () => {
    const { target, sent } = recorder();
    await runPod(target, { ...env, cgroupRoot: '/bench-x' });
    const config = sent[0]!.req.config as runtime.v1.PodSandboxConfig.$Properties;
    expect(config.linux?.cgroupParent).toBe(`/bench-x/burstable/pod${config.metadata!.uid}`);
  });

  it('CreateContainer: the image by id, pid CONTAINER, <name>/0.log, a termination-log file, host dirs as hostPath mounts', async () => {
    const { target, sent } = recorder();
    const pod = await runPod(target, env);
    const id = await addContainer(target, env, pod, 'sleep', { command: SLEEP, mounts: [{ containerPath: '/x', hostPath: dir }] });
    expect(sent.map((s) => s.method)).toEqual(['RunPodSandbox', 'CreateContainer', 'StartContainer']);
    expect(pod.containers).toEqual([id]);
    const req = sent[1]!.req as runtime.v1.CreateContainerRequest.$Properties;
    expect(req.sandboxConfig).toBe(pod.config);
    const c = req.config!;
    expect(c.image).toEqual({ image: 'sha256:0123', userSpecifiedImage: env.busybox });
    expect(c.command).toEqual(SLEEP);
    expect(c.logPath).toBe('sleep/0.log');
    expect(c.linux?.securityContext?.namespaceOptions).toMatchObject({ network: NamespaceMode.POD, ipc: NamespaceMode.POD, pid: NamespaceMode.CONTAINER });
    expect(c.linux?.resources?.cpuShares).toBe(102); // 100m requested: Burstable
    const termination = c.mounts!.find((m) => m.containerPath === '/dev/termination-log');
    expect(existsSync(termination!.hostPath!)).toBe(true);
    expect(c.mounts!.find((m) => m.containerPath === '/x')).toMatchObject({ hostPath: dir, readonly: false });
    expect(sent[2]!.req).toEqual({ containerId: id });
  });
});
