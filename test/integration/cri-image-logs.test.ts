// ImageService through berth against a real docker-registry (pull, list, status, remove, fs
// info); two-layer images whose user is a NAME (and name:group) resolved from their /etc/passwd
// and /etc/group; kubelet-style log rotation with ReopenContainerLog; UpdateContainerResources
// reaching the container's cgroup; under each runtime handler (the runc shim and berth's own).
import { readFileSync, renameSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { cgroupDir, cgroupOfPid } from '../../sys/index.js';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CRI_HANDLERS, podConfig, startBerth, until, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
describe.each(CRI_HANDLERS)('CRI on the %s shim', (handler) => {
  let b: Berth;
  let reg: TestRegistry;
  let layouts: string;
  let ref = '';
  let groupRef = '';

  beforeAll(async () => {
    layouts = await mkdtemp(path.join(os.tmpdir(), 'berth-cri-layouts-'));
    const userLayer = await makeLayer([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/tmp:/bin/sh\n' },
      { name: 'etc/group', content: 'root:x:0:\napp:x:2345:\nextra:x:3456:app\n' },
    ]);
    const img = makeImage([await busyboxLayer(), userLayer], { user: 'app', cmd: ['sh', '-c', 'id'] });
    await writeLayout(path.join(layouts, 'app'), 'v1', img);
    [b, reg] = await Promise.all([startBerth({ handler }), startRegistry()]);
    await reg.push(path.join(layouts, 'app'), 'v1', 'test/app');
    ref = `${reg.host}/test/app:v1`;
    // the same files with USER name:group (a group BY NAME, from the image's /etc/group)
    await writeLayout(path.join(layouts, 'app-group'), 'group', makeImage([await busyboxLayer(), userLayer], { user: 'app:extra', cmd: ['sh', '-c', 'id'] }));
    await reg.push(path.join(layouts, 'app-group'), 'group', 'test/app');
    groupRef = `${reg.host}/test/app:group`;
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
    await reg?.stop();
    if (layouts) await rm(layouts, { recursive: true, force: true });
  }, 120_000);

  describe('ImageService', () => {
    it('pulls from a registry, lists, reports status, and removes', async () => {
      const { imageRef } = await b.cri.image.PullImage({ image: { image: ref } });
      expect(imageRef).toMatch(/^sha256:[0-9a-f]{64}$/);
      const list = await b.cri.image.ListImages({});
      expect(list.images.find((i) => i.id === imageRef)?.repoTags).toEqual([ref]);
      const st = await b.cri.image.ImageStatus({ image: { image: ref }, verbose: true });
      expect([st.image?.id, st.image?.username]).toEqual([imageRef, 'app']);
      expect(JSON.parse(st.info.info!).imageSpec.config.User).toBe('app');
      const fs = await b.cri.image.ImageFsInfo({});
      expect(Number(fs.imageFilesystems[0]!.usedBytes!.value)).toBeGreaterThan(0);
      expect((await b.cri.image.ImageStatus({ image: { image: 'nosuch/image:1' } })).image).toBeNull();
      await expect(b.cri.image.PullImage({ image: { image: `${reg.host}/test/nosuch:v1` } })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
    });

    it('runs the image as its named user with the groups from its /etc/group', async () => {
      const config = podConfig(b, 'user');
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'id' }, image: { image: ref }, logPath: 'id.log' },
      });
      await b.cri.runtime.StartContainer({ containerId });
      await until(async () => (await b.cri.runtime.ContainerStatus({ containerId })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'exit');
      const log = readFileSync(path.join(config.logDirectory, 'id.log'), 'utf8');
      expect(log).toMatch(/ stdout F uid=1234\(app\) gid=2345\(app\) groups=2345\(app\),3456\(extra\)$/m);
      // USER app:extra: the group by name; the supplemental groups are the user's memberships (containerd's rule)
      await b.cri.image.PullImage({ image: { image: groupRef } });
      const { containerId: byGroup } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'idgroup' }, image: { image: groupRef }, logPath: 'idgroup.log' },
      });
      await b.cri.runtime.StartContainer({ containerId: byGroup });
      await until(async () => (await b.cri.runtime.ContainerStatus({ containerId: byGroup })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'exit');
      expect(readFileSync(path.join(config.logDirectory, 'idgroup.log'), 'utf8')).toMatch(/ stdout F uid=1234\(app\) gid=3456\(extra\) groups=3456\(extra\)$/m);
      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
      await b.cri.image.RemoveImage({ image: { image: ref } });
      await b.cri.image.RemoveImage({ image: { image: ref } }); // idempotent
      await b.cri.image.RemoveImage({ image: { image: groupRef } });
      expect((await b.cri.image.ImageStatus({ image: { image: ref } })).image).toBeNull();
    }, 60_000);
  });

  describe('logs and resources of a running container', () => {
    it('ReopenContainerLog writes to a fresh file after rotation; UpdateContainerResources sets the memory limit', async () => {
      await b.cri.image.PullImage({ image: { image: 'berth.local/busybox:latest' } });
      const config = podConfig(b, 'rotate');
      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config,
        config: { metadata: { name: 'ticker' }, image: { image: 'berth.local/busybox:latest' }, logPath: 'ticker.log',
          command: ['/bin/sh', '-c', 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done'] },
      });
      await b.cri.runtime.StartContainer({ containerId });
      const file = path.join(config.logDirectory, 'ticker.log');
      await until(() => readFileSync(file, 'utf8').includes('tick 3'), 'first lines');
      renameSync(file, `${file}.1`);
      await b.cri.runtime.ReopenContainerLog({ containerId });
      await until(() => { try { return readFileSync(file, 'utf8').split('\n').length > 3; } catch { return false; } }, 'lines in the new file');
      const old = readFileSync(`${file}.1`, 'utf8').trimEnd().split('\n').map((l) => Number(/tick (\d+)$/.exec(l)?.[1]));
      const fresh = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => Number(/tick (\d+)$/.exec(l)?.[1]));
      expect(fresh[0]).toBe(old.at(-1)! + 1); // nothing lost between the two files

      await b.cri.runtime.UpdateContainerResources({ containerId, linux: { memoryLimitInBytes: 64 * 1024 * 1024 } });
      const pid = JSON.parse((await b.cri.runtime.ContainerStatus({ containerId, verbose: true })).info.info!).pid as number;
      const limit = readFileSync(path.join(cgroupDir(cgroupOfPid(pid, 'memory'), 'memory'), 'memory.limit_in_bytes'), 'utf8').trim();
      expect(Number(limit)).toBe(64 * 1024 * 1024);

      await b.cri.runtime.StopContainer({ containerId, timeout: 0 });
      await expect(b.cri.runtime.ReopenContainerLog({ containerId })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
      await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    }, 60_000);
  });
});
