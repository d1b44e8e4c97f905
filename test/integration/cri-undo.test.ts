// Multi-step calls undo their earlier steps when a later one fails (nothing left: records, names,
// netns, pod files, snapshots, tasks), and a host-network pod uses the host's network namespace;
// under each runtime handler (the real runc shim and berth's own shim).
import { readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, podConfig, shimsOf, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const IMAGE = 'berth.local/busybox:latest';
describe.each(CRI_HANDLERS)('CRI on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  beforeEach(() => {
    b = berth();
  });

  const ls = (...p: string[]) => { try { return readdirSync(path.join(b.dir, ...p)).sort(); } catch { return []; } };
  const snapshot = () => ({ netns: ls('state', 'netns'), sandboxes: ls('root', 'cri', 'sandboxes'), shm: ls('state', 'cri', 'sandboxes'), shims: shimsOf(b).length });

  describe('undo on failure', () => {
    it('a RunPodSandbox failing at the spec step leaves nothing, and the name is free again', async () => {
      const before = snapshot();
      const config = podConfig(b, 'undo', { linux: { sysctls: { 'kernel.no_such_sysctl': '1' } } });
      await expect(b.cri.runtime.RunPodSandbox({ config })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
      expect(snapshot()).toEqual(before);
      expect((await b.cri.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.uid === config.metadata.uid)).toEqual([]);
      const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config: { ...config, linux: {} } });
      await b.cri.runtime.StopPodSandbox({ podSandboxId });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId });
      await until(() => JSON.stringify(snapshot()) === JSON.stringify(before), 'everything gone');
    }, 60_000);

    it('a failed StartContainer is EXITED with 128 / StartError, and its task is gone', async () => {
      const config = podConfig(b, 'starterr');
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'nope' }, image: { image: IMAGE }, command: ['/no/such/binary'] },
      });
      // Unknown, as containerd answers, with runc's reason in the message (under both shims)
      await expect(b.cri.runtime.StartContainer({ containerId })).rejects.toSatisfy((e) => isKind(e, 'unknown') && /no such file/.test(String(e)));
      const s = (await b.cri.runtime.ContainerStatus({ containerId })).status!;
      expect([s.state, s.exitCode, s.reason]).toEqual([v1.ContainerState.CONTAINER_EXITED, 128, 'StartError']);
      expect(s.message).toMatch(/no such file|not found|executable/i);
      await expect(b.cri.runtime.StartContainer({ containerId })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    }, 60_000);

    it('RemovePodSandbox of a READY pod is FailedPrecondition', async () => {
      const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'busy') });
      await expect(b.cri.runtime.RemovePodSandbox({ podSandboxId })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
      await b.cri.runtime.StopPodSandbox({ podSandboxId });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId });
    }, 60_000);
  });

  describe('host network', () => {
    it('a NODE-network pod has no netns of its own and sees the host interfaces', async () => {
      const config = podConfig(b, 'hostnet', { linux: { securityContext: { namespaceOptions: { network: v1.NamespaceMode.NODE } } } });
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const info = JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod, verbose: true })).info.info!) as { netNamespace: string };
      expect(info.netNamespace).toBe('');
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'c' }, image: { image: IMAGE }, command: ['/bin/sleep', '300'] },
      });
      await b.cri.runtime.StartContainer({ containerId });
      const r = await b.cri.runtime.ExecSync({ containerId, cmd: ['/bin/cat', '/proc/net/dev'], timeout: 10 });
      const ifaces = (t: string) => t.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
      expect(ifaces(Buffer.from(r.stdout).toString())).toContain('lo');
      // the host's own network namespace (interface lists race with other suites' veths)
      const ns = await b.cri.runtime.ExecSync({ containerId, cmd: ['/bin/sh', '-c', 'readlink /proc/self/ns/net'], timeout: 10 });
      expect(Buffer.from(ns.stdout).toString().trim()).toBe(readlinkSync('/proc/self/ns/net'));
      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    }, 60_000);
  });
});
