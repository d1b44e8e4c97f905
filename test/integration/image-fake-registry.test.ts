// Pulls from a tiny Node server playing a registry, for what docker-registry will not do:
// tampered blobs, bearer-token auth, stalled transfers, hostile layers, bad diff_ids.
import { Level } from 'level';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { ImageService, RELEASE_AFTER_MS, type ImageDb, type ImageServiceOptions } from '../../image/index.js';
import { mallocTrim } from '../../sys/index.js';
import {
  busyboxLayer, hostileKinds, hostileLayer, hostileTargetsExisting, makeImage, makeLayer, type BuiltImage, type Layer,
} from '../fixtures/oci-image.js';
import { bundleEntry } from '../helpers/bundle.js';
import { selfSignedCert, startFakeRegistry, type FakeRegistryOptions } from '../helpers/registry.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

async function openService(extra: Partial<ImageServiceOptions> = {}) {
  const dir = await tempDir('berth-images-');
  const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
  cleanups.push(() => db.close());
  // Layers unpack on the worker thread, as in the daemon (bundled from source for the test).
  const unpackWorker = await bundleEntry('image/unpack-worker.ts');
  const svc = await ImageService.open({ root: path.join(dir, 'root'), db, unpackWorker, unpackWorkerMinBytes: 0, ...extra });
  cleanups.push(() => svc.unpacker.close());
  await svc.unpacker.ready(); // every layer on the worker, not the first ones while it starts
  return { svc, dir };
}

async function serve(img: BuiltImage, o: Partial<FakeRegistryOptions> = {}, tag = 'v1') {
  const manifest = { data: img.manifest.data, mediaType: img.manifest.mediaType };
  const reg = await startFakeRegistry({
    manifests: new Map([[tag, manifest], [img.manifest.digest, manifest]]),
    blobs: new Map([img.config, ...img.layers].map((b) => [b.digest, b.data])),
    ...o,
  });
  cleanups.push(() => reg.stop());
  return reg;
}

async function expectEmptyStore(svc: ImageService) {
  expect(svc.list()).toEqual([]);
  expect(svc.snapshots.list()).toEqual([]);
  expect(await fs.readdir(svc.snapshots.dir)).toEqual([]);
  expect(await fs.readdir(svc.content.ingestDir)).toEqual([]);
  expect(await svc.content.list()).toEqual([]);
}

describe('pull integrity', () => {
  it('refuses a blob whose bytes do not match its digest and keeps no blob', async () => {
    const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'f', content: 'real' }])]);
    const bad = await makeLayer([{ name: 'f', content: 'evil' }]);
    const tampered = Buffer.concat([bad.data, Buffer.alloc(Math.max(0, img.layers[1]!.size - bad.size))]).subarray(0, img.layers[1]!.size);
    const reg = await serve(img, { tamper: new Map([[img.layers[1]!.digest, tampered]]) });
    const { svc } = await openService();
    const err = await svc.pull(`${reg.host}/x/y:v1`).catch((e: unknown) => e);
    expect(isKind(err, 'failed-precondition')).toBe(true);
    expect((err as Error).message).toMatch(/unexpected commit digest/);
    expect(await svc.content.has(img.layers[1]!.digest)).toBe(false);
    await expectEmptyStore(svc);
  });

  it('refuses manifests whose bytes do not match Docker-Content-Digest or the requested digest', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const other = makeImage([await makeLayer([{ name: 'g', content: 'y' }])]);
    const lying = await serve(img, { lyingDigest: other.manifest.digest });
    const { svc } = await openService();
    await expect(svc.pull(`${lying.host}/x/y:v1`)).rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/Docker-Content-Digest/) });
    const swapped = await startFakeRegistry({
      manifests: new Map([[img.manifest.digest, { data: other.manifest.data, mediaType: other.manifest.mediaType }]]),
      blobs: new Map(), lyingDigest: img.manifest.digest,
    });
    cleanups.push(() => swapped.stop());
    await expect(svc.pull(`${swapped.host}/x/y@${img.manifest.digest}`)).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expectEmptyStore(svc);
  });

  it('follows blob redirects without carrying the token to the other host', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const storage = await serve(img);
    const reg = await serve(img, { bearer: null, redirectBlobsTo: storage.host });
    const { svc } = await openService();
    const rec = await svc.pull(`${reg.host}/x/y:v1`);
    expect(rec.id).toBe(img.config.digest);
    expect(storage.requests.filter((r) => r.includes('/blobs/'))).toHaveLength(2);
    expect(reg.authorized.filter((r) => r.includes('/blobs/'))).toHaveLength(2);
    expect(storage.authorized).toEqual([]);
  });

  it('refuses a layer whose diff_id does not match, leaving no snapshot', async () => {
    const good = await makeLayer([{ name: 'f', content: 'x' }]);
    const other = await makeLayer([{ name: 'g', content: 'y' }]);
    const img = makeImage([{ ...good, diffId: other.diffId } as Layer]);
    const reg = await serve(img);
    const { svc } = await openService();
    await expect(svc.pull(`${reg.host}/x/y:v1`)).rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/wrong diff id/) });
    await expectEmptyStore(svc);
  });

  it('refuses a config whose diff_ids do not match the layers, leaving nothing behind', async () => {
    const l1 = await makeLayer([{ name: 'f', content: 'x' }]);
    const l2 = await makeLayer([{ name: 'g', content: 'y' }]);
    const one = makeImage([l1]);
    const desc = (b: { mediaType: string; digest: string; size: number }) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
    const mediaType = 'application/vnd.oci.image.manifest.v1+json';
    const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: desc(one.config), layers: [l1, l2].map(desc) }));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const img: BuiltImage = { config: one.config, layers: [l1, l2], manifest: { data, digest, size: data.length, mediaType } };
    const reg = await serve(img, { blobDelayMs: 20 });
    const { svc } = await openService();
    await expect(svc.pull(`${reg.host}/x/y:v1`)).rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/2 layers but 1 diff_ids/) });
    await expectEmptyStore(svc);
  });

  it('fails a stalled download with DeadlineExceeded', async () => {
    const img = makeImage([await busyboxLayer()]);
    const reg = await serve(img, { stall: { digest: img.layers[0]!.digest, after: 1000 } });
    const { svc } = await openService({ idleTimeoutMs: 300 });
    await expect(svc.pull(`${reg.host}/x/y:v1`)).rejects.toMatchObject({ kind: 'deadline-exceeded' });
    await expectEmptyStore(svc);
  });

  it('refuses a layer labelled zstd that holds gzip bytes with InvalidArgument, leaving nothing behind', async () => {
    const l = await makeLayer([{ name: 'f', content: 'x' }]);
    const img = makeImage([{ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }]);
    const reg = await serve(img);
    const { svc } = await openService();
    await expect(svc.pull(`${reg.host}/x/y:v1`)).rejects.toMatchObject({ kind: 'invalid-argument', message: expect.stringMatching(/not a valid zstd tar/) });
    await expectEmptyStore(svc);
  });
});

describe('downloads', () => {
  it('fetches at most maxConcurrentDownloads layers at once', async () => {
    const layers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => makeLayer([{ name: `f${i}`, content: String(i) }])));
    const img = makeImage(layers);
    const reg = await serve(img, { blobDelayMs: 100 });
    const { svc } = await openService({ maxConcurrentDownloads: 3 });
    const rec = await svc.pull(`${reg.host}/x/y:v1`);
    expect(rec.chainIds).toHaveLength(6);
    expect(reg.maxBlobsInFlight).toBe(3);
  });

  it('unpacks the first layers while the later ones still download', async () => {
    const layers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => makeLayer([{ name: `f${i}`, content: String(i) }])));
    const img = makeImage(layers);
    const reg = await serve(img, { blobDelayMs: 150 });
    const { svc } = await openService({ maxConcurrentDownloads: 3 });
    const events: string[] = [];
    const commitLayer = svc.snapshots.commitLayer.bind(svc.snapshots);
    svc.snapshots.commitLayer = (chainId, ...rest) => {
      events.push(`unpack ${chainId}`);
      return commitLayer(chainId, ...rest);
    };
    const last = img.layers[5]!.digest;
    const rec = await svc.pull(`${reg.host}/x/y:v1`, {
      onProgress: (p) => { if (p.digest === last && p.bytes === p.total) events.push('last downloaded'); },
    });
    expect(events.indexOf(`unpack ${rec.chainIds[0]!}`)).toBeGreaterThan(-1);
    expect(events.indexOf(`unpack ${rec.chainIds[0]!}`)).toBeLessThan(events.indexOf('last downloaded'));
    expect(events.filter((e) => e.startsWith('unpack'))).toEqual(rec.chainIds.map((c) => `unpack ${c}`));
  });

  it('a layer whose followed download was tampered on a mirror unpacks from the server\'s good copy', async () => {
    const layers = await Promise.all([1, 2, 3].map((i) => makeLayer([{ name: `f${i}`, content: `layer ${i}`.repeat(50_000) }])));
    const img = makeImage(layers);
    const bad = img.layers[1]!;
    const tampered = Buffer.from(bad.data);
    tampered[tampered.length - 20] ^= 0xff;
    const server = await serve(img);
    const mirror = await serve(img, { tamper: new Map([[bad.digest, tampered]]) });
    const cfg = await tempDir('berth-hosts-');
    const hostDir = path.join(cfg, server.host.replace(/:(\d+)$/, '_$1_'));
    await fs.mkdir(hostDir);
    await fs.writeFile(path.join(hostDir, 'hosts.toml'),
      `server = "http://${server.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const { svc } = await openService({ configPath: cfg });
    const rec = await svc.pull(`${server.host}/x/y:v1`);
    expect(mirror.requests.filter((r) => r.includes(bad.digest))).toHaveLength(1);
    expect(server.requests.filter((r) => r.includes(bad.digest))).toHaveLength(1);
    expect(svc.snapshots.list().filter((s) => s.kind === 'committed')).toHaveLength(3);
    const fsDir = svc.snapshots.fsDir(svc.snapshots.get(rec.chainIds[1]!)!);
    expect(await fs.readFile(path.join(fsDir, 'f2'), 'utf8')).toBe('layer 2'.repeat(50_000));
    expect(await fs.readdir(svc.content.ingestDir)).toEqual([]);
  });

  it('a small image unpacks on the main thread; a big one wakes the worker', async () => {
    const small = makeImage([await makeLayer([{ name: 's', content: 'small' }])]);
    const big = makeImage([await makeLayer([{ name: 'b', content: randomBytes(2 << 20) }])]);
    const regSmall = await serve(small);
    const regBig = await serve(big);
    const { svc } = await openService({ unpackWorkerMinBytes: 1 << 20 });
    await svc.unpacker.close(); // openService started it
    await svc.pull(`${regSmall.host}/x/y:v1`);
    expect(svc.unpacker.running).toBe(false);
    const rec = await svc.pull(`${regBig.host}/x/y:v1`);
    expect(svc.unpacker.running).toBe(true);
    expect((await fs.stat(path.join(svc.snapshots.fsDir(svc.snapshots.get(rec.chainIds[0]!)!), 'b'))).size).toBe(2 << 20);
  });

  it('kill -9 while a layer unpacks from its download in flight leaves nothing half-made after a reopen', async () => {
    const big = await makeLayer([{ name: 'f0', content: 'first' }, { name: 'big', content: randomBytes(4 << 20) }]);
    const img = makeImage([big]);
    const reg = await serve(img, { stall: { digest: big.digest, after: 2 << 20 } });
    const dir = await tempDir('berth-kill-');
    const child = spawn(process.execPath, [await bundleEntry('test/helpers/pull-child.ts'), dir, `${reg.host}/x/y:v1`,
      await bundleEntry('image/unpack-worker.ts')], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    cleanups.push(async () => { child.kill('SIGKILL'); await exited; });
    // Wait until the unpack has written the layer's first file from the partial download.
    const snaps = path.join(dir, 'root', 'snapshots');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const tmps = (await fs.readdir(snaps).catch(() => [])).filter((n) => n.startsWith('tmp-'));
      const started = await Promise.all(tmps.map((t) => fs.access(path.join(snaps, t, 'fs', 'f0')).then(() => true, () => false)));
      if (started.includes(true)) break;
      if (Date.now() > deadline) throw new Error('the unpack never started on the partial download');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
    await db.open();
    cleanups.push(() => db.close());
    const svc = await ImageService.open({ root: path.join(dir, 'root'), db, unpackWorker: false });
    expect(svc.list()).toEqual([]);
    expect(svc.snapshots.list()).toEqual([]);
    expect(await fs.readdir(svc.snapshots.dir)).toEqual([]);
    expect(await fs.readdir(svc.content.ingestDir)).toEqual([]);
    for (const d of await svc.content.list()) expect(createHash('sha256').update(await svc.content.readBytes(d)).digest('hex')).toBe(d.slice(7));
    expect(await svc.content.has(big.digest)).toBe(false);
  });

  it('a tampered layer among concurrent downloads fails the pull and leaves no blob, snapshot or ingest file', async () => {
    const layers = await Promise.all([1, 2, 3, 4, 5].map((i) => makeLayer([{ name: `f${i}`, content: `layer ${i}`.repeat(1000) }])));
    const img = makeImage(layers);
    const bad = img.layers[3]!;
    const tampered = Buffer.from(bad.data);
    tampered[tampered.length - 20] ^= 0xff;
    const reg = await serve(img, { blobDelayMs: 50, tamper: new Map([[bad.digest, tampered]]) });
    const { svc } = await openService({ maxConcurrentDownloads: 3 });
    const err = await svc.pull(`${reg.host}/x/y:v1`).catch((e: unknown) => e);
    expect(isKind(err, 'failed-precondition')).toBe(true);
    expect((err as Error).message).toMatch(/unexpected commit digest/);
    await expectEmptyStore(svc);
  });
});

describe('concurrent pulls', () => {
  it('two pulls of one image fetch each blob once and make one image', async () => {
    const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'f', content: 'x' }])]);
    const reg = await serve(img, { blobDelayMs: 50 });
    const { svc } = await openService();
    const [a, b] = await Promise.all([svc.pull(`${reg.host}/x/y:v1`), svc.pull(`${reg.host}/x/y@${img.manifest.digest}`)]);
    expect(a.id).toBe(b.id);
    expect(svc.list()).toHaveLength(1);
    expect(svc.snapshots.list()).toHaveLength(2);
    for (const blob of [img.config, ...img.layers]) {
      expect(reg.requests.filter((r) => r.endsWith(`/blobs/${blob.digest}`))).toHaveLength(1);
    }
  });
});

describe('memory after pulls', () => {
  it('is handed back once, RELEASE_AFTER_MS after the last pull in flight ends, failed pulls included', async () => {
    const calls: number[] = [];
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const reg = await serve(img, { blobDelayMs: 300 });
    const { svc } = await openService({ releaseMemory: () => calls.push(Date.now()) });
    const first = svc.pull(`${reg.host}/x/y:v1`);
    await new Promise((r) => setTimeout(r, 100));
    // A second pull (one that fails) overlaps the first: nothing is released while either runs.
    const failing = svc.pull(`${reg.host}/x/y:missing`).catch((e: unknown) => e);
    await first;
    expect(await failing).toBeInstanceOf(Error);
    const ended = Date.now();
    expect(calls).toEqual([]);
    await new Promise((r) => setTimeout(r, RELEASE_AFTER_MS + 400));
    expect(calls).toHaveLength(1);
    expect(calls[0]! - ended).toBeGreaterThanOrEqual(RELEASE_AFTER_MS - 50);
    // A pull that starts before the delay is over puts the release off until it ends too.
    const slow = makeImage([await makeLayer([{ name: 'g', content: 'y' }])]);
    const slowReg = await serve(slow, { blobDelayMs: 800 });
    await svc.pull(`${reg.host}/x/y:v1`); // present already: quick
    await new Promise((r) => setTimeout(r, RELEASE_AFTER_MS / 2));
    const later = svc.pull(`${slowReg.host}/x/z:v1`);
    await new Promise((r) => setTimeout(r, RELEASE_AFTER_MS / 2 + 200));
    expect(calls).toHaveLength(1); // the quick pull's release was called off
    await later;
    const laterEnded = Date.now();
    await new Promise((r) => setTimeout(r, RELEASE_AFTER_MS + 400));
    expect(calls).toHaveLength(2);
    expect(calls[1]! - laterEnded).toBeGreaterThanOrEqual(RELEASE_AFTER_MS - 50);
  });

  it('uses glibc malloc_trim by default, which runs here', async () => {
    expect(typeof mallocTrim()).toBe('boolean');
  });
});

describe('GC racing pulls', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function expectWhole(svc: ImageService, img: BuiltImage, chainIds: readonly string[]) {
    for (const b of [img.manifest, img.config, ...img.layers]) expect(await svc.content.has(b.digest), b.digest).toBe(true);
    for (const c of chainIds) expect(svc.snapshots.get(c), c).toBeDefined();
  }

  it('a GC that started before a pull recorded its image keeps that image whole', async () => {
    const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'f', content: 'x' }])]);
    const reg = await serve(img);
    const { svc } = await openService();
    let pulled: Promise<unknown> = Promise.resolve();
    let gcRun: Promise<unknown> = Promise.resolve();
    const upsert = svc.images.upsert.bind(svc.images);
    const list = svc.content.list.bind(svc.content);
    let held = false;
    // The GC starts just before the record is written and lists blobs only after the pull is done.
    svc.images.upsert = (rec) => {
      gcRun = svc.gc();
      return upsert(rec);
    };
    svc.content.list = async () => {
      if (!held) {
        held = true;
        await pulled.catch(() => undefined);
      }
      return list();
    };
    pulled = svc.pull(`${reg.host}/x/y:v1`);
    const rec = await pulled as Awaited<ReturnType<ImageService['pull']>>;
    await gcRun;
    expect(svc.list().map((r) => r.id)).toEqual([rec.id]);
    await expectWhole(svc, img, rec.chainIds);
  });

  it('a pull that reuses a blob GC is deleting downloads it again', async () => {
    const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'f', content: 'y' }])]);
    const reg = await serve(img);
    const { svc } = await openService();
    const ref = `${reg.host}/x/y:v1`;
    const first = await svc.pull(ref);
    await svc.images.delete(first.id); // unreferenced now, not yet collected
    const del = svc.content.delete.bind(svc.content);
    const has = svc.content.has.bind(svc.content);
    const asked = new Set<string>();
    let again: Promise<Awaited<ReturnType<ImageService['pull']>>> | undefined;
    svc.content.has = (d) => {
      asked.add(d);
      return has(d);
    };
    svc.content.delete = async (d) => {
      if (!again) {
        // A new pull of the same image starts while this blob is on its way out.
        again = svc.pull(ref);
        for (let i = 0; i < 60 && !asked.has(d); i++) await sleep(5);
      }
      return del(d);
    };
    await svc.gc();
    const rec = await again!;
    expect(rec.id).toBe(first.id);
    expect(svc.list()).toHaveLength(1);
    await expectWhole(svc, img, rec.chainIds);
  });
});

describe('bearer auth', () => {
  it('gets an anonymous token from the realm', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const reg = await serve(img, { bearer: null });
    const { svc } = await openService();
    const rec = await svc.pull(`${reg.host}/x/y:v1`);
    expect(rec.id).toBe(img.config.digest);
    expect(reg.requests.some((r) => r.startsWith('GET /token?service=fake&scope=repository%3Ax%3Apull&scope=repository%3Ax%2Fy%3Apull'))).toBe(true);
  });

  it('posts credentials for a token, and wrong ones are Unauthenticated', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const reg = await serve(img, { bearer: { username: 'bob', password: 'pw' } });
    const { svc } = await openService({ credentialsFor: (h) => (h === reg.host ? { username: 'bob', password: 'pw' } : undefined) });
    expect((await svc.pull(`${reg.host}/x/y:v1`)).id).toBe(img.config.digest);
    expect(reg.requests).toContain('POST /token');
    const err = await svc.pull(`${reg.host}/x/y:v1`, { credentials: { username: 'bob', password: 'nope' } }).catch((e: unknown) => e);
    expect(isKind(err, 'unauthenticated')).toBe(true);
  });
});

describe('hostile layers through a pull', () => {
  it.each(hostileKinds)('%s is refused with InvalidArgument and writes nothing outside', async (kind) => {
    const outside = await tempDir('berth-outside-');
    const victim = path.join(outside, 'victim');
    await fs.writeFile(victim, 'safe');
    const target = hostileTargetsExisting(kind) ? victim : path.join(outside, 'pwned');
    const img = makeImage([await busyboxLayer(), await hostileLayer(kind, target)]);
    const reg = await serve(img);
    const { svc } = await openService();
    const err = await svc.pull(`${reg.host}/evil/img:v1`).catch((e: unknown) => e);
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect((err as Error).message).toMatch(/layer entry "/);
    expect(await fs.readdir(outside)).toEqual(['victim']);
    expect(await fs.readFile(victim, 'utf8')).toBe('safe');
    // The hostile layer left nothing, not even a temp dir; the failed pull's GC took the rest.
    await expectEmptyStore(svc);
  });
});

describe('https registries via hosts.toml', () => {
  it('verifies with the configured ca, fails without it, and honours skip_verify', async () => {
    const certDir = await tempDir('berth-tls-');
    const tls = await selfSignedCert(certDir);
    const img = makeImage([await makeLayer([{ name: 'f', content: 'tls' }])]);
    const reg = await serve(img, { tls });
    const cfg = await tempDir('berth-hosts-');
    const hostDir = path.join(cfg, reg.host.replace(/:(\d+)$/, '_$1_'));
    await fs.mkdir(hostDir);
    const ref = `${reg.host}/x/y:v1`;
    const withToml = async (toml: string) => {
      await fs.writeFile(path.join(hostDir, 'hosts.toml'), toml);
      return (await openService({ configPath: cfg })).svc;
    };
    await fs.copyFile(tls.certPath, path.join(hostDir, 'ca.pem'));
    expect((await (await withToml(`server = "https://${reg.host}"\nca = "ca.pem"`)).pull(ref)).id).toBe(img.config.digest);
    const err = await (await withToml(`server = "https://${reg.host}"`)).pull(ref).catch((e: unknown) => e);
    expect(isKind(err, 'unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/certificate/);
    expect((await (await withToml(`server = "https://${reg.host}"\nskip_verify = true`)).pull(ref)).id).toBe(img.config.digest);
  });

  it('offers the client certificate hosts.toml names to a registry that asks for one (mutual TLS), in each form containerd reads', async () => {
    const tls = await selfSignedCert(await tempDir('berth-tls-'));
    const client = await selfSignedCert(await tempDir('berth-client-'));
    const img = makeImage([await makeLayer([{ name: 'f', content: 'mtls' }])]);
    const reg = await serve(img, { tls: { ...tls, clientCa: client.cert } });
    const cfg = await tempDir('berth-hosts-');
    const hostDir = path.join(cfg, reg.host.replace(/:(\d+)$/, '_$1_'));
    await fs.mkdir(hostDir);
    await fs.copyFile(tls.certPath, path.join(hostDir, 'ca.pem'));
    await fs.writeFile(path.join(hostDir, 'client.cert'), client.cert);
    await fs.writeFile(path.join(hostDir, 'client.key'), client.key);
    await fs.writeFile(path.join(hostDir, 'client.pem'), client.cert + client.key);
    const ref = `${reg.host}/x/y:v1`;
    const pullWith = async (lines: string) => {
      await fs.writeFile(path.join(hostDir, 'hosts.toml'), `server = "https://${reg.host}"\nca = "ca.pem"\n${lines}\n`);
      return (await openService({ configPath: cfg })).svc.pull(ref);
    };
    const refused = await pullWith('').catch((e: unknown) => e);
    expect(isKind(refused, 'unavailable')).toBe(true);
    for (const form of ['client = "client.pem"', 'client = ["client.pem"]', 'client = [["client.cert", "client.key"]]', 'client = [["client.pem", ""]]']) {
      expect((await pullWith(form)).id, form).toBe(img.config.digest);
    }
    const bad = await pullWith('client = 7').catch((e: unknown) => e);
    expect(isKind(bad, 'invalid-argument')).toBe(true);
    expect((bad as Error).message).toMatch(/client must be a path, a list of paths, or a list of \[cert, key\] pairs$/);
  });

  it('refuses a hosts.toml key it does not know, naming it, and ends a connect that hangs at dial_timeout', async () => {
    const cfg = await tempDir('berth-hosts-');
    // a TCP server that accepts and never answers the TLS hello
    const conns = new Set<net.Socket>();
    const silent = net.createServer((s) => { conns.add(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const c of conns) c.destroy(); silent.close(() => r()); }));
    const host = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const hostDir = path.join(cfg, host.replace(/:(\d+)$/, '_$1_'));
    await fs.mkdir(hostDir);
    const pullWith = async (toml: string) => {
      await fs.writeFile(path.join(hostDir, 'hosts.toml'), toml);
      return (await openService({ configPath: cfg })).svc.pull(`${host}/x/y:v1`).catch((e: unknown) => e);
    };
    const unknown = await pullWith(`server = "https://${host}"\nmirror_timeout = "1s"\n`);
    expect(isKind(unknown, 'invalid-argument')).toBe(true);
    expect((unknown as Error).message).toMatch(/server: unknown key "mirror_timeout" \(berth reads /);
    const inHost = await pullWith(`[host."https://${host}"]\n  capabilities = ["pull", "resolve"]\n  tls_version = "1.3"\n`);
    expect((inHost as Error).message).toMatch(/\[host\."https:\/\/127\.0\.0\.1:\d+"\]: unknown key "tls_version"/);
    const hung = await pullWith(`server = "https://${host}"\ndial_timeout = "300ms"\n`);
    expect(isKind(hung, 'deadline-exceeded')).toBe(true);
    expect((hung as Error).message).toMatch(/not connected within 300 ms \(dial_timeout\)/);
  });
});
