// Pulls from a real docker-registry (Debian 2.8) on 127.0.0.1: tags, digests, multi-arch,
// shared base layers, htpasswd auth, hosts.toml mirror fallback, remove + GC, reopen, rootfs.
import { Level } from 'level';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { ImageService, type ImageDb, type ImageServiceOptions } from '../../image/index.js';
import { mountAll, unmountAll } from '../../sys/index.js';
import {
  busyboxEntries, busyboxLayer, makeImage, makeIndex, makeLayer, writeLayout, type BuiltImage,
} from '../fixtures/oci-image.js';
import { freePort, startFakeRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

async function openService(root?: string, extra: Partial<ImageServiceOptions> = {}) {
  const dir = root ?? await tempDir('berth-images-');
  const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
  cleanups.push(() => db.close());
  const svc = await ImageService.open({ root: path.join(dir, 'root'), db, ...extra });
  return { svc, db, dir };
}

let reg: TestRegistry;
let imgA: BuiltImage;
let imgB: BuiltImage;
let arm: BuiltImage;
let plainZ: BuiltImage;
let multiIndexDigest: string;
let layoutsDir: string;

beforeAll(async () => {
  layoutsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-layouts-'));
  const base = await busyboxLayer();
  imgA = makeImage([base, await makeLayer([
    { name: 'hello-a', content: 'from A\n' }, { name: 'etc/.wh.group' }, { name: 'tmp/x', content: 'x' },
  ])], { cmd: ['cat', '/hello-a'] });
  imgB = makeImage([base, await makeLayer([{ name: 'hello-b', content: 'from B\n' }])], { user: '1000:1000' });
  arm = makeImage([await makeLayer([{ name: 'arm-only', content: 'arm' }])], { arch: 'arm64' });
  const index = makeIndex([{ image: arm, arch: 'arm64' }, { image: imgB, arch: 'amd64' }]);
  multiIndexDigest = index.digest;
  reg = await startRegistry();
  await writeLayout(path.join(layoutsDir, 'a'), 'v1', imgA);
  await writeLayout(path.join(layoutsDir, 'b'), 'v1', imgB);
  await writeLayout(path.join(layoutsDir, 'multi'), 'v1', index, [arm, imgB]);
  await reg.push(path.join(layoutsDir, 'a'), 'v1', 'test/a');
  await writeLayout(path.join(layoutsDir, 'a2'), 'v2', imgA);
  await reg.push(path.join(layoutsDir, 'a2'), 'v2', 'test/a');
  await reg.push(path.join(layoutsDir, 'b'), 'v1', 'test/b');
  await reg.push(path.join(layoutsDir, 'multi'), 'v1', 'test/multi');
  await reg.push(path.join(layoutsDir, 'b'), 'v1', 'test/docker', { format: 'v2s2' });
  // skopeo 1.9 keeps gzip layers as they are and reuses a blob the registry already has for the
  // same content: plain layers of their own, compressed in the format asked for.
  plainZ = makeImage([await makeLayer([...busyboxEntries(), { name: 'zstd', content: 'z\n' }], { gzip: false }), await makeLayer([
    { name: 'hello-z', content: 'from Z\n' }, { name: 'etc/.wh.group' },
  ], { gzip: false })], { cmd: ['cat', '/hello-z'] });
  await writeLayout(path.join(layoutsDir, 'plain-z'), 'v1', plainZ);
  await reg.push(path.join(layoutsDir, 'plain-z'), 'v1', 'test/zstd', { compress: 'zstd' });
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await fs.rm(layoutsDir, { recursive: true, force: true });
});

describe('pull from docker-registry', () => {
  it('pulls by tag, records config/size/chain, and reports progress', async () => {
    const { svc } = await openService();
    const seen = new Map<string, number>();
    const rec = await svc.pull(`${reg.host}/test/a:v1`, { onProgress: (p) => seen.set(p.digest, p.bytes) });
    expect(rec.id).toBe(imgA.config.digest);
    expect(rec.repoTags).toEqual([`${reg.host}/test/a:v1`]);
    expect(rec.repoDigests).toEqual([`${reg.host}/test/a@${imgA.manifest.digest}`]);
    expect(rec.size).toBe(imgA.manifest.size + imgA.config.size + imgA.layers.reduce((a, l) => a + l.size, 0));
    expect(rec.config.config?.Cmd).toEqual(['cat', '/hello-a']);
    expect(rec.chainIds).toHaveLength(2);
    expect(seen.get(imgA.layers[0]!.digest)).toBe(imgA.layers[0]!.size);
    expect(svc.status(rec.id)?.id).toBe(rec.id);
    expect(svc.status(`${reg.host}/test/a:v1`)?.id).toBe(rec.id);
    expect(svc.status(`${reg.host}/test/a:nope`)).toBeUndefined();
    expect((await svc.content.list()).sort()).toEqual([imgA.manifest.digest, imgA.config.digest, ...imgA.layers.map((l) => l.digest)].sort());
    // Layer 2's whiteout of /etc/group is an overlay whiteout (char 0:0) in its snapshot.
    const top = svc.snapshots.get(rec.chainIds[1]!)!;
    const wh = await fs.lstat(path.join(svc.snapshots.fsDir(top), 'etc/group'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
  });

  it('pulls by digest, and several tags of one image make one image', async () => {
    const { svc } = await openService();
    const byDigest = await svc.pull(`${reg.host}/test/a@${imgA.manifest.digest}`);
    expect(byDigest.repoTags).toEqual([]);
    await svc.pull(`${reg.host}/test/a:v1`);
    const rec = await svc.pull(`${reg.host}/test/a:v2`);
    expect(svc.list()).toHaveLength(1);
    expect([...rec.repoTags].sort()).toEqual([`${reg.host}/test/a:v1`, `${reg.host}/test/a:v2`]);
    expect(rec.repoDigests).toEqual([`${reg.host}/test/a@${imgA.manifest.digest}`]);
    expect(svc.status(`${reg.host}/test/a@${imgA.manifest.digest}`)?.id).toBe(imgA.config.digest);
    await svc.remove(`${reg.host}/test/a@${imgA.manifest.digest}`);
    expect(svc.list()).toEqual([]);
    expect(await svc.content.list()).toEqual([]);
  });

  it('pulls a Docker schema2 image', async () => {
    const { svc } = await openService();
    const rec = await svc.pull(`${reg.host}/test/docker:v1`);
    expect(rec.target.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(rec.config.rootfs.diff_ids).toEqual(imgB.layers.map((l) => l.diffId));
    expect(rec.chainIds).toHaveLength(2);
  });

  it('pulls an image whose layers skopeo recompressed with zstd: same diff_ids, same files', async () => {
    const { svc, dir } = await openService();
    const rec = await svc.pull(`${reg.host}/test/zstd:v1`);
    const manifest = JSON.parse((await svc.content.readBytes(rec.target.digest)).toString()) as { layers: { mediaType: string; digest: string }[] };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(plainZ.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+zstd'));
    // the blobs really are zstd frames (magic 28 b5 2f fd), not the plain tars pushed
    for (const [i, l] of manifest.layers.entries()) {
      expect(l.digest).not.toBe(plainZ.layers[i]!.digest);
      expect((await fs.readFile(svc.content.blobPath(l.digest))).readUInt32LE(0)).toBe(0xfd2fb528);
    }
    expect(rec.id).toBe(plainZ.config.digest);
    expect(rec.config.rootfs.diff_ids).toEqual(plainZ.layers.map((l) => l.diffId));
    expect(rec.chainIds).toHaveLength(2);
    const mounts = await svc.prepareRootfs('ctr-zstd', rec.id);
    const target = path.join(dir, 'rootfs');
    await fs.mkdir(target);
    mountAll(mounts, target);
    cleanups.push(() => unmountAll(target));
    expect(await fs.readFile(path.join(target, 'hello-z'), 'utf8')).toBe('from Z\n');
    expect(await fs.readFile(path.join(target, 'zstd'), 'utf8')).toBe('z\n');
    expect(await fs.readFile(path.join(target, 'etc/passwd'), 'utf8')).toMatch(/^root:/);
    await expect(fs.access(path.join(target, 'etc/group'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('picks linux/amd64 from a multi-arch index', async () => {
    const { svc } = await openService();
    const rec = await svc.pull(`${reg.host}/test/multi:v1`);
    expect(rec.id).toBe(imgB.config.digest);
    expect(rec.repoDigests).toEqual([`${reg.host}/test/multi@${multiIndexDigest}`]);
    expect(rec.manifestDigest).toBe(imgB.manifest.digest);
    expect(await svc.content.has(arm.config.digest)).toBe(false);
  });

  it('shares the base-layer snapshot, and remove collects only what nothing uses', async () => {
    const { svc } = await openService();
    const a = await svc.pull(`${reg.host}/test/a:v1`);
    const b = await svc.pull(`${reg.host}/test/b:v1`);
    expect(a.chainIds[0]).toBe(b.chainIds[0]);
    expect(svc.snapshots.list()).toHaveLength(3);
    await svc.remove(`${reg.host}/test/a:v1`);
    expect(svc.list().map((i) => i.id)).toEqual([b.id]);
    expect(svc.snapshots.list().map((s) => s.key).sort()).toEqual([...b.chainIds].sort());
    expect((await svc.content.list()).sort()).toEqual([...b.blobs].sort());
    await svc.remove(b.id);
    expect(svc.list()).toEqual([]);
    expect(await svc.content.list()).toEqual([]);
    expect(svc.snapshots.list()).toEqual([]);
    expect(await fs.readdir(svc.snapshots.dir)).toEqual([]);
    await svc.remove(b.id); // unknown: no error
    const usage = await svc.fsUsage();
    expect(usage.mountpoint).toBe(svc.snapshots.dir);
  });

  it('keeps every image across a reopen', async () => {
    const first = await openService();
    await first.svc.pull(`${reg.host}/test/a:v1`);
    await first.svc.pull(`${reg.host}/test/b:v1`);
    const before = first.svc.list().map((i) => i.id).sort();
    const mounts = await first.svc.prepareRootfs('ctr-keep', `${reg.host}/test/a:v1`);
    await first.db.close();
    const db = new Level<string, unknown>(path.join(first.dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
    await db.open();
    cleanups.push(() => db.close());
    const again = await ImageService.open({ root: path.join(first.dir, 'root'), db });
    expect(again.list().map((i) => i.id).sort()).toEqual(before);
    expect(again.snapshots.list()).toHaveLength(4);
    expect(again.rootfsMounts('ctr-keep')).toEqual(mounts);
    expect(again.status(`${reg.host}/test/b:v1`)?.config.config?.User).toBe('1000:1000');
  });

  it('mounts a container rootfs: image files visible, writes land in the upper dir only', async () => {
    const { svc, dir } = await openService();
    const rec = await svc.pull(`${reg.host}/test/a:v1`);
    const mounts = await svc.prepareRootfs('ctr-1', rec.id);
    expect(mounts).toHaveLength(1);
    const opts = mounts[0]!.options;
    const lower = opts.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':');
    expect(lower).toEqual([...rec.chainIds].reverse().map((c) => svc.snapshots.fsDir(svc.snapshots.get(c)!)));
    const upper = opts.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    const target = path.join(dir, 'rootfs');
    await fs.mkdir(target);
    mountAll(mounts, target);
    cleanups.push(() => unmountAll(target));
    expect(await fs.readFile(path.join(target, 'hello-a'), 'utf8')).toBe('from A\n');
    expect((await fs.stat(path.join(target, 'bin/busybox'))).mode & 0o111).toBeTruthy();
    await expect(fs.stat(path.join(target, 'etc/group'))).rejects.toThrow(/ENOENT/);
    expect(await fs.readFile(path.join(target, 'etc/passwd'), 'utf8')).toMatch(/^root:/);
    await fs.writeFile(path.join(target, 'new-file'), 'written');
    expect(await fs.readFile(path.join(upper, 'new-file'), 'utf8')).toBe('written');
    for (const c of rec.chainIds) {
      await expect(fs.stat(path.join(svc.snapshots.fsDir(svc.snapshots.get(c)!), 'new-file'))).rejects.toThrow(/ENOENT/);
    }
    await expect(svc.prepareRootfs('ctr-1', rec.id)).rejects.toMatchObject({ kind: 'already-exists' });
    // GC while the container exists keeps its layers.
    await svc.remove(rec.id);
    expect(svc.snapshots.list()).toHaveLength(3);
    unmountAll(target);
    await svc.removeRootfs('ctr-1');
    await svc.gc();
    expect(svc.snapshots.list()).toEqual([]);
    expect(await fs.readdir(svc.snapshots.dir)).toEqual([]);
    expect(await fs.readdir(target)).toEqual([]);
  });

  it('falls back from a dead hosts.toml mirror to the server', async () => {
    const cfg = await tempDir('berth-hosts-');
    const [, port] = reg.host.split(':');
    const dead = await freePort();
    const empty = await startFakeRegistry({ manifests: new Map(), blobs: new Map() });
    cleanups.push(() => empty.stop());
    await fs.mkdir(path.join(cfg, `127.0.0.1_${port}_`));
    await fs.writeFile(path.join(cfg, `127.0.0.1_${port}_`, 'hosts.toml'), [
      `server = "http://${reg.host}"`,
      `[host."http://127.0.0.1:${dead}"]`,
      '  capabilities = ["pull", "resolve"]',
      `[host."http://${empty.host}"]`,
      '  capabilities = ["pull", "resolve"]',
      `  [host."http://${empty.host}".header]`,
      '    x-test = "1"',
    ].join('\n'));
    const { svc } = await openService(undefined, { configPath: cfg });
    const rec = await svc.pull(`${reg.host}/test/b:v1`);
    expect(rec.id).toBe(imgB.config.digest);
    // The live mirror was asked (with ?ns=) after the dead one, and answered 404 for everything.
    expect(empty.requests[0]).toBe(`GET /v2/test/b/manifests/v1?ns=127.0.0.1%3A${port}`);
    expect(empty.requests.filter((r) => r.includes('/blobs/'))).toHaveLength(imgB.layers.length + 1);
  });

  it('refuses unknown images with NotFound', async () => {
    const { svc } = await openService();
    await expect(svc.pull(`${reg.host}/test/none:v1`)).rejects.toMatchObject({ kind: 'not-found' });
    await expect(svc.prepareRootfs('c2', 'sha256:' + '0'.repeat(64))).rejects.toMatchObject({ kind: 'not-found' });
  });
});

describe('pull with htpasswd auth', () => {
  it('works with the right credentials and is Unauthenticated with wrong or none', async () => {
    const authReg = await startRegistry({ auth: { username: 'alice', password: 's3cret' } });
    cleanups.push(() => authReg.stop());
    await authReg.push(path.join(layoutsDir, 'b'), 'v1', 'priv/b');
    const { svc } = await openService();
    const ref = `${authReg.host}/priv/b:v1`;
    const err1 = await svc.pull(ref).catch((e: unknown) => e);
    expect(isKind(err1, 'unauthenticated')).toBe(true);
    const err2 = await svc.pull(ref, { credentials: { username: 'alice', password: 'wrong' } }).catch((e: unknown) => e);
    expect(isKind(err2, 'unauthenticated')).toBe(true);
    expect((err2 as Error).message).toMatch(/authoriz/);
    expect(await svc.content.list()).toEqual([]);
    const rec = await svc.pull(ref, { credentials: { auth: Buffer.from('alice:s3cret').toString('base64') } });
    expect(rec.id).toBe(imgB.config.digest);
  });
});
