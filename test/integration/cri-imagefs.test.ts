// ImageFsInfo through a real daemon: after PullImage and RemoveImage its used_bytes and
// inodes_used move by what `du` of the daemon's snapshot and content trees moves, and equal it;
// a container's writable layer in ContainerStats is what `du` says of its rw snapshot, and
// ImageFsInfo counts it.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { du } from '../helpers/du.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { LOCAL_BUSYBOX, podConfig, until, useBerth } from './cri-harness.js';

describe('ImageFsInfo', () => {
  const berth = useBerth();
  let reg: TestRegistry;
  let layouts: string;
  let ref = '';

  beforeAll(async () => {
    layouts = await mkdtemp(path.join(os.tmpdir(), 'berth-imagefs-'));
    reg = await startRegistry();
    const img = makeImage([await busyboxLayer(), await makeLayer([
      { name: 'data/', type: 'directory' }, { name: 'data/blob', content: Buffer.alloc(500_000, 9) },
      { name: 'data/a', content: 'a' }, { name: 'data/b', content: 'b' },
    ])]);
    await writeLayout(path.join(layouts, 'fs'), 'v1', img);
    await reg.push(path.join(layouts, 'fs'), 'v1', 'test/fs');
    ref = `${reg.host}/test/fs:v1`;
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    if (layouts) await rm(layouts, { recursive: true, force: true });
  });

  const imageFs = async () => {
    const r = await berth().cri.image.ImageFsInfo({});
    const f = r.imageFilesystems[0]!;
    return { bytes: Number(f.usedBytes!.value), inodes: Number(f.inodesUsed!.value), mountpoint: f.fsId!.mountpoint };
  };
  const imageRoot = () => path.join(berth().dir, 'root', 'images');
  const duNow = () => du(path.join(imageRoot(), 'snapshots'), path.join(imageRoot(), 'content'));
  const delta = (a: { bytes: number; inodes: number }, b: { bytes: number; inodes: number }) => ({ bytes: b.bytes - a.bytes, inodes: b.inodes - a.inodes });

  it('moves by what du moves after a pull and after RemoveImage', async () => {
    const [before, duBefore] = [await imageFs(), await duNow()];
    expect(before.mountpoint).toBe(path.join(imageRoot(), 'snapshots'));
    expect({ bytes: before.bytes, inodes: before.inodes }).toEqual(duBefore);

    const { imageRef } = await berth().cri.image.PullImage({ image: { image: ref } });
    const [pulled, duPulled] = [await imageFs(), await duNow()];
    expect(delta(before, pulled)).toEqual(delta(duBefore, duPulled));
    // the new layer's 500 kB file and its compressed blob at least; its five entries and the blobs
    expect(pulled.bytes - before.bytes).toBeGreaterThan(500_000);
    expect(pulled.inodes - before.inodes).toBeGreaterThanOrEqual(5);

    await berth().cri.image.RemoveImage({ image: { image: imageRef } });
    const [removed, duRemoved] = [await imageFs(), await duNow()];
    expect(delta(pulled, removed)).toEqual(delta(duPulled, duRemoved));
    expect(removed.bytes).toBeLessThan(pulled.bytes - 500_000);
  });

  it('reports a container\'s writable layer as du of its rw snapshot, and counts it in ImageFsInfo', async () => {
    const b = berth();
    const config = podConfig(b, 'imagefs');
    const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config });
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId, sandboxConfig: config,
      config: { metadata: { name: 'writer' }, image: { image: LOCAL_BUSYBOX }, command: ['sleep', '300'], logPath: 'writer.log' },
    });
    await b.cri.runtime.StartContainer({ containerId });
    const before = await imageFs();
    const exec = await b.cri.runtime.ExecSync({ containerId, cmd: ['sh', '-c', 'dd if=/dev/zero of=/written bs=1000 count=700 2>/dev/null'], timeout: 30 });
    expect(exec.exitCode).toBe(0);
    const written = BigInt(Date.now()) * 1_000_000n;
    // the first figure taken after the write (figures are kept up to 2 s)
    const layer = await until(async () => {
      const w = (await b.cri.runtime.ContainerStats({ containerId })).stats!.writableLayer!;
      return BigInt(String(w.timestamp)) > written ? w : undefined;
    }, 'a writable-layer figure taken after the write');
    const snapshots = path.join(imageRoot(), 'snapshots');
    const rw = (await readdir(snapshots)).map((n) => path.join(snapshots, n)).find((d) => existsSync(path.join(d, 'fs', 'written')));
    expect(rw).toBeDefined();
    expect({ bytes: Number(layer.usedBytes!.value), inodes: Number(layer.inodesUsed!.value) }).toEqual(await du(rw!));
    expect(layer.fsId!.mountpoint).toBe(snapshots);
    const after = await imageFs();
    expect(after.bytes - before.bytes).toBeGreaterThanOrEqual(700_000);
    await b.cri.runtime.StopPodSandbox({ podSandboxId });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId });
  });
});
