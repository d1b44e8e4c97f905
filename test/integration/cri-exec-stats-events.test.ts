// ExecSync (output, exit code, timeout), stats from cgroups, the GetContainerEvents stream order,
// duplicate names (AlreadyExists, nothing left behind) and unknown ids (NotFound) on a real
// berth daemon, under each runtime handler (the real runc shim and berth's own shim).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, podConfig, startBerth, until, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const IMAGE = 'berth.local/busybox:latest';

describe.each(CRI_HANDLERS)('CRI on the %s shim', (handler) => {
  let b: Berth;
  let pod = '';
  let sleeper = '';
  let config: ReturnType<typeof podConfig>;
  const events: Array<{ id: string; type: number }> = [];

  beforeAll(async () => {
    b = await startBerth({ handler });
    await b.cri.image.PullImage({ image: { image: IMAGE } });
    const stream = b.cri.runtime.GetContainerEvents({});
    stream.on('data', (e: runtime.v1.ContainerEventResponse) => events.push({ id: e.containerId, type: e.containerEventType }));
    stream.on('error', () => undefined);
    config = podConfig(b, 'exec');
    pod = (await b.cri.runtime.RunPodSandbox({ config })).podSandboxId;
    sleeper = (await b.cri.runtime.CreateContainer({
      podSandboxId: pod, sandboxConfig: config,
      config: { metadata: { name: 'sleeper' }, image: { image: IMAGE }, command: ['/bin/sh', '-c', 'dd if=/dev/zero of=/tmp/blob bs=1024 count=512; sleep 300'], logPath: 'sleeper.log' },
    })).containerId;
    await b.cri.runtime.StartContainer({ containerId: sleeper });
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
  }, 120_000);

  describe('ExecSync', () => {
    it('returns stdout, stderr and the exit code', async () => {
      const r = await b.cri.runtime.ExecSync({ containerId: sleeper.slice(0, 8), cmd: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 7'], timeout: 10 });
      expect(Buffer.from(r.stdout).toString()).toBe('out\n');
      expect(Buffer.from(r.stderr).toString()).toBe('err\n');
      expect(r.exitCode).toBe(7);
    });

    it('sees the container filesystem and hostname', async () => {
      const r = await b.cri.runtime.ExecSync({ containerId: sleeper, cmd: ['/bin/cat', '/etc/hostname'], timeout: 10 });
      expect([Buffer.from(r.stdout).toString().trim(), r.exitCode]).toEqual(['exec', 0]);
    });

    it('fails with DeadlineExceeded after the timeout and leaves the container running', async () => {
      await expect(b.cri.runtime.ExecSync({ containerId: sleeper, cmd: ['/bin/sleep', '30'], timeout: 1 }))
        .rejects.toSatisfy((e) => isKind(e, 'deadline-exceeded'));
      const s = await b.cri.runtime.ContainerStatus({ containerId: sleeper });
      expect(s.status!.state).toBe(v1.ContainerState.CONTAINER_RUNNING);
    });

    it('refuses an empty command and an unknown container', async () => {
      await expect(b.cri.runtime.ExecSync({ containerId: sleeper, cmd: [], timeout: 1 })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
      await expect(b.cri.runtime.ExecSync({ containerId: 'f00dfeed', cmd: ['true'] })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
    });
  });

  describe('stats', () => {
    it('reports non-zero cpu, memory and writable layer for a running container and its pod', async () => {
      const s = await until(async () => {
        const r = (await b.cri.runtime.ContainerStats({ containerId: sleeper })).stats!;
        return Number(r.writableLayer?.usedBytes?.value ?? 0) >= 512 * 1024 ? r : undefined;
      }, 'the writable layer to grow');
      expect(s.attributes!.id).toBe(sleeper);
      expect(Number(s.cpu!.usageCoreNanoSeconds!.value)).toBeGreaterThan(0);
      expect(Number(s.memory!.workingSetBytes!.value)).toBeGreaterThan(0);
      const list = await b.cri.runtime.ListContainerStats({ filter: { podSandboxId: pod } });
      expect(list.stats.map((x) => x.attributes!.id)).toEqual([sleeper]);
      expect(Number(list.stats[0]!.cpu!.usageCoreNanoSeconds!.value)).toBeGreaterThan(0);
      expect(Number(list.stats[0]!.memory!.workingSetBytes!.value)).toBeGreaterThan(0);
      const ps = (await b.cri.runtime.PodSandboxStats({ podSandboxId: pod })).stats!;
      expect(Number(ps.linux!.memory!.workingSetBytes!.value)).toBeGreaterThan(0);
      expect((ps.linux?.containers ?? []).map((c) => c.attributes!.id)).toEqual([sleeper]);
      const all = await b.cri.runtime.ListPodSandboxStats({});
      expect(all.stats.map((x) => x.attributes!.id)).toContain(pod);
    });
  });

  describe('names and ids', () => {
    it('a duplicate pod name is AlreadyExists and leaves nothing behind', async () => {
      const before = (await b.cri.runtime.ListPodSandbox({})).items.length;
      await expect(b.cri.runtime.RunPodSandbox({ config })).rejects.toSatisfy((e) => isKind(e, 'already-exists'));
      expect((await b.cri.runtime.ListPodSandbox({})).items.length).toBe(before);
    });

    it('a duplicate container name is AlreadyExists and leaves nothing behind', async () => {
      const before = (await b.cri.runtime.ListContainers({})).containers.length;
      await expect(b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'sleeper' }, image: { image: IMAGE } },
      })).rejects.toSatisfy((e) => isKind(e, 'already-exists'));
      expect((await b.cri.runtime.ListContainers({})).containers.length).toBe(before);
    });

    it('unknown ids are NotFound; stops and removals of unknown ids succeed', async () => {
      const nf = (e: unknown) => isKind(e, 'not-found');
      await expect(b.cri.runtime.ContainerStatus({ containerId: 'deadbeef' })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.StartContainer({ containerId: 'deadbeef' })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.PodSandboxStatus({ podSandboxId: 'deadbeef' })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.CreateContainer({ podSandboxId: 'deadbeef', config: { metadata: { name: 'x' }, image: { image: IMAGE } } })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'noimage' }, image: { image: 'nosuch/image:1' } },
      })).rejects.toSatisfy(nf);
      await b.cri.runtime.StopContainer({ containerId: 'deadbeef' });
      await b.cri.runtime.RemoveContainer({ containerId: 'deadbeef' });
      await b.cri.runtime.StopPodSandbox({ podSandboxId: 'deadbeef' });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: 'deadbeef' });
    });

    it('Exec, Attach and PortForward return streaming URLs (NotFound for unknown ids); CheckpointContainer is Unimplemented', async () => {
      const url = /^http:\/\/127\.0\.0\.1:\d+\/(exec|attach|portforward)\/\S+$/;
      expect((await b.cri.runtime.Exec({ containerId: sleeper, cmd: ['sh'], stdout: true })).url).toMatch(url);
      expect((await b.cri.runtime.Attach({ containerId: sleeper, stdout: true })).url).toMatch(url);
      expect((await b.cri.runtime.PortForward({ podSandboxId: pod, port: [80] })).url).toMatch(url);
      const nf = (e: unknown) => isKind(e, 'not-found');
      await expect(b.cri.runtime.Exec({ containerId: 'deadbeef', cmd: ['sh'], stdout: true })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.PortForward({ podSandboxId: 'deadbeef', port: [80] })).rejects.toSatisfy(nf);
      await expect(b.cri.runtime.CheckpointContainer({ containerId: sleeper })).rejects.toSatisfy((e) => isKind(e, 'unimplemented'));
    });
  });

  describe('OOM', () => {
    it('a container killed by the OOM killer is EXITED with reason OOMKilled', async () => {
      const { containerId: id } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config,
        config: {
          metadata: { name: 'hog' }, image: { image: IMAGE }, command: ['/bin/tail', '/dev/zero'],
          linux: { resources: { memoryLimitInBytes: 32 * 1024 * 1024 } },
        },
      });
      await b.cri.runtime.StartContainer({ containerId: id });
      const s = await until(async () => {
        const st = (await b.cri.runtime.ContainerStatus({ containerId: id })).status!;
        return st.state === v1.ContainerState.CONTAINER_EXITED && st.reason === 'OOMKilled' ? st : undefined;
      }, 'OOMKilled');
      expect(s.exitCode).toBe(137);
      await b.cri.runtime.RemoveContainer({ containerId: id });
    }, 60_000);
  });

  describe('GetContainerEvents', () => {
    it('streams CREATED, STARTED, STOPPED, DELETED in order', async () => {
      const { containerId: id } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'short' }, image: { image: IMAGE }, command: ['/bin/true'] },
      });
      await b.cri.runtime.StartContainer({ containerId: id });
      await until(async () => (await b.cri.runtime.ContainerStatus({ containerId: id })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'exit');
      await b.cri.runtime.RemoveContainer({ containerId: id });
      const T = v1.ContainerEventType;
      await until(() => events.filter((e) => e.id === id).length >= 4, 'four events');
      expect(events.filter((e) => e.id === id).map((e) => e.type)).toEqual([
        T.CONTAINER_CREATED_EVENT, T.CONTAINER_STARTED_EVENT, T.CONTAINER_STOPPED_EVENT, T.CONTAINER_DELETED_EVENT,
      ]);
      expect(events.find((e) => e.id === pod)?.type).toBe(T.CONTAINER_STARTED_EVENT);
    });
  });
});
