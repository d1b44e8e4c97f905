// Bounded registry inputs (docs/security.md): an image config over 4 MiB is refused before it is
// fetched; hosts.toml [header] values go to their host only, never to a redirect target on
// another host.
import { Level } from 'level';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { ImageService, type ImageDb, type ImageServiceOptions } from '../../image/index.js';
import { makeImage, makeLayer, type BuiltImage } from '../fixtures/oci-image.js';
import { startFakeRegistry } from '../helpers/registry.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tempDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

async function openService(extra: Partial<ImageServiceOptions> = {}): Promise<ImageService> {
  const dir = await tempDir('berth-images-');
  const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
  cleanups.push(() => db.close());
  const svc = await ImageService.open({ root: path.join(dir, 'root'), db, ...extra });
  cleanups.push(() => svc.unpacker.close());
  return svc;
}

async function serve(img: BuiltImage, o: { redirectBlobsTo?: string } = {}) {
  const manifest = { data: img.manifest.data, mediaType: img.manifest.mediaType };
  const reg = await startFakeRegistry({
    manifests: new Map([['v1', manifest], [img.manifest.digest, manifest]]),
    blobs: new Map([img.config, ...img.layers].map((b) => [b.digest, b.data])),
    ...o,
  });
  cleanups.push(() => reg.stop());
  return reg;
}

/** `img` with its config padded to `size` bytes (still a valid config) and a manifest naming it. */
function withConfigOf(img: BuiltImage, size: number): BuiltImage {
  const doc = JSON.parse(img.config.data.toString()) as Record<string, unknown>;
  const base = Buffer.from(JSON.stringify({ ...doc, padding: '' })).length;
  const data = Buffer.from(JSON.stringify({ ...doc, padding: 'x'.repeat(size - base) }));
  const config = { ...img.config, data, digest: sha(data), size: data.length };
  const m = JSON.parse(img.manifest.data.toString()) as { config: object };
  const mdata = Buffer.from(JSON.stringify({ ...m, config: { ...m.config, digest: config.digest, size: config.size } }));
  return { config, layers: img.layers, manifest: { ...img.manifest, data: mdata, digest: sha(mdata), size: mdata.length } };
}

describe('bounded registry inputs', () => {
  it('refuses an image config over 4 MiB before fetching it, and pulls one of 4 MiB', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'x' }])]);
    const huge = withConfigOf(img, (4 << 20) + 1);
    const reg = await serve(huge);
    const svc = await openService();
    const err = await svc.pull(`${reg.host}/x/y:v1`).catch((e: unknown) => e);
    expect(isKind(err, 'failed-precondition')).toBe(true);
    expect((err as Error).message).toContain(`config ${huge.config.digest} is ${(4 << 20) + 1} bytes, more than ${4 << 20}`);
    expect(reg.requests.filter((r) => r.includes(huge.config.digest))).toEqual([]);
    expect(svc.list()).toEqual([]);

    const fits = withConfigOf(img, 4 << 20);
    const reg2 = await serve(fits);
    const rec = await svc.pull(`${reg2.host}/x/y:v1`);
    expect(rec.id).toBe(fits.config.digest);
  });

  it('sends hosts.toml headers to their host and not to a redirect target on another host', async () => {
    const img = makeImage([await makeLayer([{ name: 'f', content: 'redirected' }])]);
    // The redirect target (a blob store on another port) records every request's headers.
    const seen: http.IncomingHttpHeaders[] = [];
    const blobs = new Map([img.config, ...img.layers].map((b) => [b.digest, b.data]));
    const store = http.createServer((req, res) => {
      seen.push(req.headers);
      const data = blobs.get(path.basename(req.url ?? ''));
      res.statusCode = data ? 200 : 404;
      res.end(data);
    });
    const sockets = new Set<net.Socket>();
    store.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { for (const s of sockets) s.destroy(); store.close(r); }));
    const storeHost = `127.0.0.1:${(store.address() as net.AddressInfo).port}`;

    const reg = await serve(img, { redirectBlobsTo: storeHost });
    const cfg = await tempDir('berth-hosts-');
    const hostDir = path.join(cfg, reg.host.replace(/:(\d+)$/, '_$1_'));
    await fs.mkdir(hostDir);
    await fs.writeFile(path.join(hostDir, 'hosts.toml'), `server = "http://${reg.host}"\n[header]\n  X-Registry-Token = "s3cret"\n`);
    const svc = await openService({ configPath: cfg });
    await svc.pull(`${reg.host}/x/y:v1`);

    expect(seen.length).toBeGreaterThanOrEqual(2); // the config and the layer, both redirected
    for (const h of seen) expect(h['x-registry-token']).toBeUndefined();
  });
});
