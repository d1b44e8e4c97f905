// A pod with three containers on a real berth daemon, under each runtime handler (the real
// containerd-shim-runc-v2 and berth's own shim), from RunPodSandbox to RemovePodSandbox: states,
// exit codes and reasons, CRI log format, one shim per pod, netns and files gone afterwards. The pause image is built locally (its configured
// sandbox_image cannot be pulled), the container image is berth's local busybox.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, podConfig, SHIM_BINARY, shimsOf, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const IMAGE = 'berth.local/busybox:latest';
const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (stdout|stderr) ([PF]) (.*)$/;

function container(name: string, args: string[], extra: Record<string, unknown> = {}) {
  return { metadata: { name, attempt: 0 }, image: { image: IMAGE }, command: ['/bin/sh', '-c'], args, logPath: `${name}/0.log`, ...extra };
}

describe.each(CRI_HANDLERS)('CRI on the %s shim: a pod from start to removal', (handler) => {
  const berth = useBerth({ maxLineSize: 64, handler });
  let b: Berth;
  beforeEach(() => {
    b = berth();
  });

  it('Version and Status', async () => {
    const v = await b.cri.runtime.Version({ version: 'v1' });
    expect([v.runtimeName, v.runtimeApiVersion]).toEqual(['berth', 'v1']);
    const s = await b.cri.runtime.Status({});
    const cond = Object.fromEntries((s.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(cond.RuntimeReady!.status).toBe(true);
    expect([cond.NetworkReady!.status, cond.NetworkReady!.reason]).toEqual([true, '']);
  });

  it('runs two containers, records exits and reasons, writes CRI logs, and removes everything', async () => {
    const config = podConfig(b, 'two');
    const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
    const ps = await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod.slice(0, 12), verbose: true });
    expect(ps.status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    const info = JSON.parse(ps.info.info!) as { pid: number; netNamespace: string; timings: Record<string, { at: number; ms: number }> };
    expect(info.pid).toBeGreaterThan(0);
    expect(existsSync(info.netNamespace)).toBe(true);
    // Where RunPodSandbox's time went: every phase of a pod with its own netns, within the total.
    const phases = info.timings;
    expect(Object.keys(phases)).toEqual(expect.arrayContaining([
      'lock', 'store', 'netns', 'cni add', 'image', 'pod files', 'snapshot', 'spec', 'bundle', 'shim start', 'shim connect', 'task create',
      'task start', 'wait network', 'total',
    ]));
    for (const [name, p] of Object.entries(phases)) {
      expect(p.ms, name).toBeGreaterThanOrEqual(0);
      expect(p.at + p.ms, name).toBeLessThanOrEqual(phases.total!.ms + 0.2);
    }
    expect(phases['cni add']!.at).toBeGreaterThanOrEqual(phases.netns!.at + phases.netns!.ms - 0.2);

    const long = 'x'.repeat(150);
    const { containerId: ok } = await b.cri.runtime.CreateContainer({
      podSandboxId: pod, config: container('ok', [`echo hello; echo oops >&2; echo ${long}; printf tail`]), sandboxConfig: config,
    });
    const { containerId: bad } = await b.cri.runtime.CreateContainer({
      podSandboxId: pod, config: container('bad', ['exit 3']), sandboxConfig: config,
    });
    const { containerId: sleeper } = await b.cri.runtime.CreateContainer({
      podSandboxId: pod, config: container('sleeper', ['trap "" TERM; while :; do sleep 1; done']), sandboxConfig: config,
    });
    expect((await b.cri.runtime.ContainerStatus({ containerId: ok })).status!.state).toBe(v1.ContainerState.CONTAINER_CREATED);
    for (const id of [ok, bad, sleeper]) await b.cri.runtime.StartContainer({ containerId: id });
    // StartContainer's breakdown: the pod's shim is reused, not started again.
    const started = JSON.parse((await b.cri.runtime.ContainerStatus({ containerId: sleeper, verbose: true })).info.info!) as {
      timings: Record<string, { at: number; ms: number }>;
    };
    expect(Object.keys(started.timings).sort()).toEqual(['bundle', 'shim connect', 'shim reuse', 'spec', 'task create', 'task start', 'total']);

    const exited = async (id: string) => {
      const s = (await b.cri.runtime.ContainerStatus({ containerId: id })).status!;
      return s.state === v1.ContainerState.CONTAINER_EXITED ? s : undefined;
    };
    const okStatus = await until(() => exited(ok), 'ok to exit');
    expect([okStatus.exitCode, okStatus.reason]).toEqual([0, 'Completed']);
    const badStatus = await until(() => exited(bad), 'bad to exit');
    expect([badStatus.exitCode, badStatus.reason]).toEqual([3, 'Error']);
    expect(Number(badStatus.finishedAt)).toBeGreaterThanOrEqual(Number(badStatus.startedAt));

    // Logs: one record per line, stderr tagged, the long line split at 64 bytes, the unterminated tail as P.
    const records = readFileSync(path.join(config.logDirectory, 'ok/0.log'), 'utf8').trimEnd().split('\n').map((l) => {
      const m = LINE.exec(l);
      expect(m, l).not.toBeNull();
      return { stream: m![2], tag: m![3], text: m![4] };
    });
    expect(records.find((r) => r.text === 'hello')).toEqual({ stream: 'stdout', tag: 'F', text: 'hello' });
    expect(records.find((r) => r.text === 'oops')).toEqual({ stream: 'stderr', tag: 'F', text: 'oops' });
    const longParts = records.filter((r) => r.text.startsWith('x'));
    expect(longParts.map((r) => [r.tag, r.text.length])).toEqual([['P', 64], ['P', 64], ['F', 22]]);
    expect(records.at(-1)).toEqual({ stream: 'stdout', tag: 'P', text: 'tail' });

    // Lists and filters.
    const all = await b.cri.runtime.ListContainers({ filter: { podSandboxId: pod } });
    expect(all.containers.map((c) => c.id).sort()).toEqual([ok, bad, sleeper].sort());
    const running = await b.cri.runtime.ListContainers({ filter: { state: { state: v1.ContainerState.CONTAINER_RUNNING } } });
    expect(running.containers.map((c) => c.id)).toContain(sleeper);
    expect(running.containers.map((c) => c.id)).not.toContain(ok);
    const byPrefix = await b.cri.runtime.ListPodSandbox({ filter: { id: pod.slice(0, 10) } });
    expect(byPrefix.items.map((p) => p.id)).toEqual([pod]);
    const byLabel = await b.cri.runtime.ListPodSandbox({ filter: { labelSelector: { app: 'two' } } });
    expect(byLabel.items.map((p) => p.id)).toContain(pod);

    // One shim, of the handler's kind, serves the whole pod.
    expect(shimsOf(b)).toHaveLength(1);
    expect(readFileSync(`/proc/${shimsOf(b)[0]}/cmdline`, 'utf8')).toContain(SHIM_BINARY[handler]);

    // Stop: SIGTERM (the image's default stop signal) is ignored by the trap -> SIGKILL after 1 s.
    await b.cri.runtime.StopContainer({ containerId: sleeper, timeout: 1 });
    const st = (await b.cri.runtime.ContainerStatus({ containerId: sleeper })).status!;
    expect(st.state).toBe(v1.ContainerState.CONTAINER_EXITED);
    expect(st.exitCode).toBe(137);
    await b.cri.runtime.StopContainer({ containerId: sleeper, timeout: 1 }); // idempotent

    await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
    await b.cri.runtime.StopPodSandbox({ podSandboxId: pod }); // idempotent
    expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    expect(existsSync(info.netNamespace)).toBe(false);
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod }); // idempotent
    await expect(b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
    await expect(b.cri.runtime.ContainerStatus({ containerId: ok })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
    expect((await b.cri.runtime.ListContainers({})).containers.filter((c) => c.podSandboxId === pod)).toEqual([]);
    await until(() => shimsOf(b).length === 0, 'the pod shim to exit');
  }, 120_000);
});
