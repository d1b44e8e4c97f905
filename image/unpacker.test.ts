import { Level } from 'level';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/index.js';
import { hostileLayer, makeLayer } from '../test/fixtures/oci-image.js';
import { bundleEntry } from '../test/helpers/bundle.js';
import type { ImageDb } from './json-table.js';
import { Snapshotter } from './snapshots.js';
import { Unpacker } from './unpacker.js';

let script: string;
let tmp: string;
let unpacker: Unpacker;
beforeAll(async () => {
  script = await bundleEntry('image/unpack-worker.ts');
});
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-unpacker-'));
  unpacker = new Unpacker({ script, log: silentLogger });
  await unpacker.ready(); // else the first applies run on this thread while the worker starts
});
afterEach(async () => {
  await unpacker.close();
  await fs.rm(tmp, { recursive: true, force: true });
});
afterAll(async () => {
  await fs.rm(script, { force: true });
});

async function blobFile(data: Buffer): Promise<string> {
  const f = path.join(tmp, `blob-${Math.random().toString(16).slice(2)}`);
  await fs.writeFile(f, data);
  return f;
}

async function freshDir(name: string): Promise<string> {
  const d = path.join(tmp, name);
  await fs.mkdir(d);
  return d;
}

describe('Unpacker (worker thread)', () => {
  it('applies a layer on the worker and reports its diffID', async () => {
    const l = await makeLayer([{ name: 'etc/', type: 'directory' }, { name: 'etc/hello', content: 'hi', mode: 0o640 }]);
    const root = await freshDir('root');
    const r = await unpacker.apply(root, { file: await blobFile(l.data) }, 'gzip');
    expect(r.diffId).toBe(l.diffId);
    expect(await fs.readFile(path.join(root, 'etc/hello'), 'utf8')).toBe('hi');
    expect((await fs.stat(path.join(root, 'etc/hello'))).mode & 0o777).toBe(0o640);
  });

  it('reports a tampered layer by the diffID it really has (the caller refuses it)', async () => {
    const l = await makeLayer([{ name: 'a', content: 'original' }], { gzip: false });
    const tampered = Buffer.from(l.data);
    tampered[512] = 'O'.charCodeAt(0); // first byte of a's body
    const r = await unpacker.apply(await freshDir('root'), { file: await blobFile(tampered) }, 'none');
    expect(r.diffId).not.toBe(l.diffId);
  });

  it('keeps the error kinds of applyLayer: a hostile entry is InvalidArgument, a corrupt gzip too', async () => {
    const outside = await freshDir('outside');
    for (const kind of ['traversal', 'symlink-escape'] as const) {
      const hostile = await hostileLayer(kind, path.join(outside, 'victim'));
      await expect(unpacker.apply(await freshDir(`r-${kind}`), { file: await blobFile(hostile.data) }, 'gzip'))
        .rejects.toMatchObject({ kind: 'invalid-argument', message: expect.stringMatching(/layer entry/) });
    }
    expect(await fs.readdir(outside)).toEqual([]);
    await expect(unpacker.apply(await freshDir('r2'), { file: await blobFile(Buffer.from('not gzip at all')) }, 'gzip'))
      .rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(unpacker.apply(await freshDir('r3'), { file: path.join(tmp, 'missing') }, 'gzip'))
      .rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails the applies in flight when the worker goes away, and starts a new one for the next', async () => {
    const l = await makeLayer([{ name: 'f', content: Buffer.alloc(4 << 20, 7) }]);
    const file = await blobFile(l.data);
    const running = unpacker.apply(await freshDir('r1'), { file }, 'gzip');
    const failed = running.catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    await unpacker.close();
    expect(await failed).toMatchObject({ kind: 'internal' });
    // Until a new worker runs, applies are served on this thread; then by the worker again.
    const r = await unpacker.apply(await freshDir('r2'), { file }, 'gzip');
    expect(r.diffId).toBe(l.diffId);
    expect(unpacker.running).toBe(true);
    await unpacker.ready();
    expect((await unpacker.apply(await freshDir('r3'), { file }, 'gzip')).diffId).toBe(l.diffId);
  });

  it('stops an idle worker after idleMs and then calls onStopped, once', async () => {
    let stopped = 0;
    const u = new Unpacker({ script, log: silentLogger, idleMs: 200, onStopped: () => { stopped++; } });
    try {
      // Everything the apply needs is made first: on a loaded machine that took longer than idleMs.
      const l = await makeLayer([{ name: 'f', content: 'x' }]);
      const dir = await freshDir('idle');
      const file = await blobFile(l.data);
      await u.ready();
      expect((await u.apply(dir, { file }, 'gzip')).diffId).toBe(l.diffId);
      expect(u.running).toBe(true);
      expect(stopped).toBe(0);
      const until = Date.now() + 5_000;
      while (stopped === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(stopped).toBe(1);
      expect(u.running).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      expect(stopped).toBe(1);
    } finally {
      await u.close();
    }
  });

  it('serves a Snapshotter: a layer with the wrong diffID leaves no snapshot', async () => {
    const db = new Level<string, unknown>(path.join(tmp, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
    await db.open();
    try {
      const s = await Snapshotter.open(path.join(tmp, 'snaps'), db, silentLogger, unpacker);
      const good = await makeLayer([{ name: 'ok', content: 'ok' }]);
      const other = await makeLayer([{ name: 'evil', content: 'x' }]);
      await expect(s.commitLayer(good.diffId, '', good.diffId, { file: await blobFile(other.data) }, 'gzip'))
        .rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/wrong diff id/) });
      expect(s.list()).toEqual([]);
      expect(await fs.readdir(s.dir)).toEqual([]);
      const rec = await s.commitLayer(good.diffId, '', good.diffId, { file: await blobFile(good.data) }, 'gzip');
      expect(await fs.readFile(path.join(s.fsDir(rec), 'ok'), 'utf8')).toBe('ok');
    } finally {
      await db.close();
    }
  });
});
