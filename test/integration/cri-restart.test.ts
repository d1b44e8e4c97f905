// Restarting the berth daemon between steps (kill -9 and SIGTERM): pods and containers keep
// running, records come back with their states, a container that exited while berth was down
// gets its real exit code, a container created before the restart starts after it, and no log
// line is lost across the restart.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, podConfig, shimsOf, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const IMAGE = 'berth.local/busybox:latest';

/** Resolves as soon as `file` grows (polled every millisecond). */
async function justAfterGrowth(file: string): Promise<void> {
  const size = (): number => (existsSync(file) ? statSync(file).size : 0);
  const start = size();
  const deadline = Date.now() + 10_000;
  while (size() === start) {
    if (Date.now() > deadline) throw new Error(`${file} did not grow within 10 s`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe.each(CRI_HANDLERS)('CRI on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  beforeEach(() => {
    b = berth();
  });

  const state = async (id: string) => (await b.cri.runtime.ContainerStatus({ containerId: id })).status!;

  describe('daemon restart', () => {
    it('keeps pods, containers and logs across kill -9 and SIGTERM', async () => {
      const config = podConfig(b, 'restart');
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const mk = async (name: string, script: string) => (await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config,
        config: { metadata: { name }, image: { image: IMAGE }, command: ['/bin/sh', '-c', script], logPath: `${name}.log` },
      })).containerId;
      const counter = await mk('counter', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo "line $i"; sleep 0.02; done');
      const quitter = await mk('quitter', 'sleep 2; exit 5');
      await b.cri.runtime.StartContainer({ containerId: counter });
      await b.cri.runtime.StartContainer({ containerId: quitter });
      const late = await mk('late', 'echo started-after-restart; sleep 300');
      const shimPids = shimsOf(b);

      // Killed right after a line reached the log, the next ~20 ms away: a line the daemon has
      // read from the FIFO but not yet written when it dies is lost (containerd has the same
      // window); what is written while it is down waits in the pipe, which is what this proves.
      await justAfterGrowth(path.join(config.logDirectory, 'counter.log'));
      await b.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 3_000)); // quitter exits while berth is down
      await b.start();

      expect(shimsOf(b)).toEqual(shimPids); // the same shim serves the pod
      expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
      expect((await state(counter)).state).toBe(v1.ContainerState.CONTAINER_RUNNING);
      const q = await until(async () => { const s = await state(quitter); return s.state === v1.ContainerState.CONTAINER_EXITED ? s : undefined; }, 'quitter exit');
      expect([q.exitCode, q.reason]).toEqual([5, 'Error']);
      expect((await state(late)).state).toBe(v1.ContainerState.CONTAINER_CREATED);
      await b.cri.runtime.StartContainer({ containerId: late });
      const r = await b.cri.runtime.ExecSync({ containerId: counter, cmd: ['/bin/echo', 'alive'], timeout: 10 });
      expect(Buffer.from(r.stdout).toString()).toBe('alive\n');

      await justAfterGrowth(path.join(config.logDirectory, 'counter.log'));
      await b.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      await b.start();
      expect((await state(late)).state).toBe(v1.ContainerState.CONTAINER_RUNNING);
      await until(() => readFileSync(path.join(config.logDirectory, 'late.log'), 'utf8').includes('started-after-restart'), 'late log');

      await b.cri.runtime.StopContainer({ containerId: counter, timeout: 0 });
      const numbers = readFileSync(path.join(config.logDirectory, 'counter.log'), 'utf8').trimEnd().split('\n')
        .map((l) => /^\S+ stdout F line (\d+)$/.exec(l)).map((m) => Number(m?.[1] ?? -1));
      expect(numbers.length).toBeGreaterThan(100);
      expect(numbers).toEqual(numbers.map((_, i) => i + 1)); // every line, in order, none lost

      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
      await until(() => shimsOf(b).length === 0, 'shim exit');
    }, 120_000);

    it('marks a pod NOTREADY and its containers EXITED with a non-zero code when the shim died while berth was down', async () => {
      const config = podConfig(b, 'deadshim');
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const { containerId: c } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'c' }, image: { image: IMAGE }, command: ['/bin/sleep', '300'] },
      });
      await b.cri.runtime.StartContainer({ containerId: c });
      const shims = shimsOf(b);
      await b.kill('SIGKILL');
      for (const pid of shims) process.kill(pid, 'SIGKILL'); // takes its containers with it (they are its children)
      await new Promise((r) => setTimeout(r, 500));
      await b.start();
      expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
      const s = await state(c);
      expect(s.state).toBe(v1.ContainerState.CONTAINER_EXITED);
      expect(s.exitCode).not.toBe(0);
      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    }, 120_000);
  });
});
