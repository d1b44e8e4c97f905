// Image archives in and out of the image layer (docs/images.md "Import and export"): OCI and
// docker archives made by skopeo from a real docker-registry are imported with the registry gone,
// their layers unpacked and mountable; an export re-imports to the same image id; hostile or
// broken archives (`../` names, links out of the archive, a wrong digest, a wrong diff id,
// devices, too many bytes) are refused with nothing left in the stores or the staging area.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Level } from 'level';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { ImageService, type ImageDb } from '../../image/index.js';
import { mountAll, unmountAll } from '../../sys/index.js';
import { busyboxLayer, makeImage, makeLayer, tarBytes, writeLayout, type BuiltImage, type LayerEntry } from '../fixtures/oci-image.js';
import { startRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let work: string;
let img: BuiltImage;
let ociTar: string;
let dockerTar: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-archive-'));
  img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'hello', content: 'from the archive\n' }], { gzip: true })], { cmd: ['cat', '/hello'] });
  await writeLayout(path.join(work, 'layout'), 'v1', img);
  const reg = await startRegistry();
  try {
    await reg.push(path.join(work, 'layout'), 'v1', 'test/arch');
    ociTar = path.join(work, 'oci.tar');
    dockerTar = path.join(work, 'docker.tar');
    const src = `docker://${reg.host}/test/arch:v1`;
    const copy = (dest: string) => run('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', '--quiet', src, dest], { timeout: 60_000 });
    await copy(`oci-archive:${ociTar}:${reg.host}/test/arch:v1`);
    await copy(`docker-archive:${dockerTar}:${reg.host}/test/arch:v1`);
  } finally {
    await reg.stop(); // every import below runs with no registry there
  }
}, 120_000);

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function openService(): Promise<ImageService> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-archive-svc-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
  cleanups.push(() => db.close());
  return ImageService.open({ root: path.join(dir, 'root'), db, unpackWorker: false });
}

/** Blobs, snapshots, records and staging dirs: all must be as before a refused import. */
async function storeState(svc: ImageService) {
  let staging: string[] = [];
  try {
    staging = await fs.readdir(path.join(svc.root, 'import'));
  } catch {
    // never made
  }
  return {
    blobs: (await svc.content.list()).sort(), snapshots: svc.snapshots.list().map((s) => s.key).sort(),
    images: svc.list().map((i) => i.id).sort(), staging, ingest: await fs.readdir(svc.content.ingestDir),
  };
}

/** Mounts the image's rootfs for a moment and reads one file of it. */
async function readFromRootfs(svc: ImageService, image: string, file: string): Promise<string> {
  const id = `ctr-${Math.random().toString(36).slice(2, 10)}`;
  const mounts = await svc.prepareRootfs(id, image);
  const target = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-archive-mnt-'));
  try {
    mountAll(mounts, target);
    try {
      return readFileSync(path.join(target, file), 'utf8');
    } finally {
      unmountAll(target);
    }
  } finally {
    await fs.rm(target, { recursive: true, force: true });
    await svc.removeRootfs(id);
  }
}

describe('import', () => {
  it.each([['oci-archive', () => ociTar], ['docker-archive', () => dockerTar]])('imports a %s made by skopeo with no registry reachable', async (_kind, file) => {
    const svc = await openService();
    const [rec] = await svc.importArchive(createReadStream(file()));
    expect(rec!.id).toBe(img.config.digest);
    expect(rec!.repoTags).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+\/test\/arch:v1$/)]);
    expect(svc.status(rec!.repoTags[0]!)?.id).toBe(img.config.digest);
    expect(rec!.chainIds).toHaveLength(2);
    expect(await readFromRootfs(svc, rec!.id, 'hello')).toBe('from the archive\n');
    expect((await storeState(svc)).staging).toEqual([]);
  }, 60_000);

  it('imports a gzip-compressed archive and names a bare tag with --base-name', async () => {
    const svc = await openService();
    const layout = path.join(work, 'tag-only');
    await writeLayout(layout, '2.0', img);
    const tarred = (await run('tar', ['-C', layout, '-cf', '-', '.'], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
    const [unnamed] = await svc.importArchive(Readable.from([gzipSync(tarred)]));
    expect(unnamed!.repoTags).toEqual([]);
    const [named] = await svc.importArchive(Readable.from([tarred]), { baseName: 'example.com/tools' });
    expect(named!.id).toBe(img.config.digest);
    expect(named!.repoTags).toEqual(['example.com/tools:2.0']);
  }, 60_000);
});

describe('export', () => {
  it('exports an OCI layout that imports again to the same image id, with its name', async () => {
    const svc = await openService();
    const [rec] = await svc.importArchive(createReadStream(dockerTar));
    const out = path.join(work, 'exported.tar');
    await svc.exportImage(rec!.repoTags[0]!, createWriteStream(out));
    // skopeo reads the export as an OCI archive too
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--config', `oci-archive:${out}`]);
    expect(JSON.parse(stdout).rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
    const again = await openService();
    const [back] = await again.importArchive(createReadStream(out));
    expect(back!.id).toBe(rec!.id);
    expect(back!.repoTags).toEqual(rec!.repoTags);
    expect(await readFromRootfs(again, back!.id, 'hello')).toBe('from the archive\n');
  }, 60_000);

  it('refuses an image it does not have', async () => {
    const svc = await openService();
    const sink = createWriteStream(path.join(work, 'none.tar'));
    cleanups.push(() => sink.destroy());
    await expect(svc.exportImage('example.com/nosuch:1', sink)).rejects.toSatisfy((e) => isKind(e, 'not-found'));
  });
});

/** An OCI layout tar of `img` with `extra` members added (after the real ones) or blobs replaced. */
async function layoutTar(extra: LayerEntry[], replace: Map<string, Buffer> = new Map()): Promise<Buffer> {
  const blobs = [img.manifest, img.config, ...img.layers];
  const members: LayerEntry[] = [
    { name: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', content: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'io.containerd.image.name': 'example.com/hostile:1' } }] }) },
    ...blobs.map((b) => ({ name: `blobs/sha256/${b.digest.slice(7)}`, content: replace.get(b.digest) ?? b.data })),
    ...extra,
  ];
  return tarBytes(members);
}

describe('refusals leave nothing behind', () => {
  const tamperedLayer = () => {
    const l = img.layers[1]!;
    const bad = Buffer.from(l.data);
    bad[bad.length - 1] ^= 0xff;
    return new Map([[l.digest, bad]]);
  };
  const cases: [string, () => Promise<Buffer>, string, RegExp][] = [
    ['a ../ member name', () => layoutTar([{ name: '../escape', content: 'x' }]), 'invalid-argument', /contains '\.\.'/],
    ['an absolute member name', () => layoutTar([{ name: '/etc/escape', content: 'x' }]), 'invalid-argument', /absolute path/],
    ['a symlink out of the archive', () => layoutTar([{ name: 'blobs/out', type: 'symlink', linkname: '../../../etc/passwd' }]), 'invalid-argument', /points outside/],
    ['a device', () => layoutTar([{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }]), 'invalid-argument', /no place in an image archive/],
    ['a blob whose bytes do not match its digest', () => layoutTar([], tamperedLayer()), 'failed-precondition', /unexpected commit digest/],
    ['not a tar', async () => Buffer.from('this is not a tar archive, just text that goes on for a while '.repeat(20)), 'invalid-argument', /not a readable tar/],
  ];
  it.each(cases)('refuses %s', async (_what, make, kind, message) => {
    const svc = await openService();
    const before = await storeState(svc);
    const err = await svc.importArchive(Readable.from([await make()])).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, kind as never)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect(await storeState(svc)).toEqual(before);
  });

  it('refuses a docker-archive whose config is not the digest its name says, after a good import', async () => {
    const svc = await openService();
    await svc.importArchive(createReadStream(ociTar));
    const before = await storeState(svc);
    const layer = await makeLayer([{ name: 'other', content: 'other\n' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
    const archive = await tarBytes([
      { name: 'manifest.json', content: JSON.stringify([{ Config: `${'ab'.repeat(32)}.json`, RepoTags: ['example.com/lie:1'], Layers: [`${layer.diffId.slice(7)}.tar`] }]) },
      { name: `${'ab'.repeat(32)}.json`, content: config },
      { name: `${layer.diffId.slice(7)}.tar`, content: layer.data },
    ]);
    await expect(svc.importArchive(Readable.from([archive]))).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
    expect(await storeState(svc)).toEqual(before);
  });

  it('refuses a layer whose content is not the diff id the config names, removing the blobs it stored', async () => {
    const svc = await openService();
    const before = await storeState(svc);
    const layer = await makeLayer([{ name: 'real', content: 'real\n' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'cd'.repeat(32)}`] } }));
    const archive = await tarBytes([
      { name: 'manifest.json', content: JSON.stringify([{ Config: 'config.json', RepoTags: ['example.com/diff:1'], Layers: ['layer.tar'] }]) },
      { name: 'config.json', content: config },
      { name: 'layer.tar', content: layer.data },
    ]);
    await expect(svc.importArchive(Readable.from([archive]))).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
    expect(await storeState(svc)).toEqual(before);
  });

  it('refuses an archive past its byte bound', async () => {
    const svc = await openService();
    const before = await storeState(svc);
    const source = createReadStream(ociTar);
    await expect(svc.importArchive(source, { limits: { maxBytes: 64 * 1024, maxEntries: 100 } }))
      .rejects.toSatisfy((e) => isKind(e, 'resource-exhausted'));
    expect(await storeState(svc)).toEqual(before);
  });
});
