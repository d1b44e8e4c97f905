// Shims per pod through the CRI, under each runtime handler: every pod gets ONE shim of the
// handler's kind, the parent (subreaper) of the pod's pause and container processes; `kill -9` of
// a pod's shim while berth runs reports every container of that pod EXITED and the pod NOTREADY
// (each with a STOPPED event) and leaves none of its processes behind, while the other pod runs on.
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, SHIM_BINARY, shimsOf, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const LOOP = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];

/** Parent pid and liveness (a zombie counts as gone) of `pid`, from /proc. */
function proc(pid: number): { alive: boolean; ppid: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { alive: state !== 'Z', ppid: Number(ppid) };
  } catch {
    return { alive: false, ppid: 0 };
  }
}

describe.each(CRI_HANDLERS)('CRI on the %s shim: shims per pod', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  beforeEach(() => {
    b = berth();
  });

  const podPid = async (id: string) => (JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: id, verbose: true })).info.info!) as { pid: number }).pid;
  const containerPid = async (id: string) => (JSON.parse((await b.cri.runtime.ContainerStatus({ containerId: id, verbose: true })).info.info!) as { pid: number }).pid;

  async function runPod(name: string, containers: string[]) {
    const config = podConfig(b, name);
    const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
    const ids: string[] = [];
    for (const c of containers) {
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: c }, image: { image: LOCAL_BUSYBOX }, command: LOOP, logPath: `${c}.log` },
      });
      await b.cri.runtime.StartContainer({ containerId });
      ids.push(containerId);
    }
    const pids = [await podPid(pod), ...await Promise.all(ids.map(containerPid))];
    return { pod, ids, pids };
  }

  it('one shim per pod, parent of the pod\'s processes; kill -9 of it reports the pod\'s containers EXITED and the pod NOTREADY', async () => {
    const stopped: string[] = [];
    const stream = b.cri.runtime.GetContainerEvents({});
    stream.on('data', (e: runtime.v1.ContainerEventResponse) => {
      if (e.containerEventType === v1.ContainerEventType.CONTAINER_STOPPED_EVENT) stopped.push(e.containerId);
    });
    stream.on('error', () => undefined);
    try {
      const a = await runPod('victim', ['one', 'two']);
      const other = await runPod('bystander', ['three']);

      // One shim per pod, of the handler's kind, reaping all the pod's processes.
      const shims = shimsOf(b);
      expect(shims).toHaveLength(2);
      for (const pid of shims) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(SHIM_BINARY[handler]);
      const shimA = proc(a.pids[0]!).ppid;
      const shimB = proc(other.pids[0]!).ppid;
      expect([shimA, shimB].sort()).toEqual([...shims].sort());
      for (const pid of a.pids) expect(proc(pid).ppid).toBe(shimA);
      for (const pid of other.pids) expect(proc(pid).ppid).toBe(shimB);

      process.kill(shimA, 'SIGKILL');

      // Within a few seconds: every container of the pod EXITED with a STOPPED event, pod NOTREADY.
      for (const id of a.ids) {
        const s = await until(async () => {
          const st = (await b.cri.runtime.ContainerStatus({ containerId: id })).status!;
          return st.state === v1.ContainerState.CONTAINER_EXITED ? st : undefined;
        }, `container ${id} EXITED`, 5_000);
        expect([s.exitCode, s.reason]).toEqual([137, 'Error']);
      }
      await until(async () => (await b.cri.runtime.PodSandboxStatus({ podSandboxId: a.pod })).status!.state === v1.PodSandboxState.SANDBOX_NOTREADY,
        'the pod NOTREADY', 5_000);
      await until(() => [a.pod, ...a.ids].every((id) => stopped.includes(id)), 'STOPPED events of the pod and its containers', 5_000);
      await until(() => a.pids.every((pid) => !proc(pid).alive), 'the pod\'s processes to be gone', 5_000);
      expect(shimsOf(b)).toEqual([shimB]);

      // The other pod runs on in its own shim.
      expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: other.pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
      const r = await b.cri.runtime.ExecSync({ containerId: other.ids[0]!, cmd: ['/bin/echo', 'alive'], timeout: 10 });
      expect(Buffer.from(r.stdout).toString()).toBe('alive\n');
      for (const pid of other.pids) expect(proc(pid).alive).toBe(true);

      // The dead pod is stopped and removed as usual.
      await b.cri.runtime.StopPodSandbox({ podSandboxId: a.pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: a.pod });
      expect((await b.cri.runtime.ListContainers({ filter: { podSandboxId: other.pod } })).containers.map((c) => c.id)).toEqual(other.ids);
      expect((await b.cri.runtime.ListPodSandbox({})).items.map((p) => p.id)).toEqual([other.pod]);
    } finally {
      stream.cancel();
    }
  }, 120_000);
});
