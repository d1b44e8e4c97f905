import { Level } from 'level';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { du } from '../test/helpers/du.js';
import { ContentStore, sha256Of } from './content-store.js';
import type { ImageDb } from './json-table.js';

let root: string;
beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-content-')); });
afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

describe('content store', () => {
  it('commits verified blobs and refuses wrong digests or sizes without leftovers', async () => {
    const cs = await ContentStore.open(root);
    const data = Buffer.from('hello');
    const digest = sha256Of(data);
    await cs.write(Readable.from([data]), { digest, size: 5 });
    expect(await cs.readBytes(digest)).toEqual(data);
    const other = sha256Of('other');
    await expect(cs.write(Readable.from([data]), { digest: other, size: 5 })).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expect(cs.write(Readable.from([data]), { digest: other, size: 4 })).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expect(cs.write(Readable.from([data]), { digest: other, size: 9 })).rejects.toThrow(/unexpected commit size/);
    const broken = new Readable({ read() { this.push(Buffer.from('hel')); this.destroy(new Error('connection reset')); } });
    await expect(cs.write(broken, { digest })).rejects.toThrow(/connection reset/);
    expect(await cs.list()).toEqual([digest]);
    expect(await fs.readdir(cs.ingestDir)).toEqual([]);
    await expect(cs.readBytes(other)).rejects.toMatchObject({ kind: 'not-found' });
    expect(() => cs.blobPath('sha256:../../x')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    await cs.delete(digest);
    expect(await cs.list()).toEqual([]);
  });

  it('writes big blobs arriving in small chunks exactly, and a size overrun mid-way leaves nothing', async () => {
    const cs = await ContentStore.open(root);
    const data = randomBytes(3 * (1 << 20) + 4321);
    const digest = sha256Of(data);
    const pieces = (b: Buffer) => { const out: Buffer[] = []; for (let i = 0; i < b.length; i += 16411) out.push(b.subarray(i, i + 16411)); return out; };
    let seen = 0;
    await cs.write(Readable.from(pieces(data)), { digest, size: data.length }, (n) => { seen += n; });
    expect(seen).toBe(data.length);
    expect((await cs.readBytes(digest)).equals(data)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of cs.openRead(digest)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const other = randomBytes(2 << 20);
    await expect(cs.write(Readable.from(pieces(other)), { digest: sha256Of(other), size: 1 << 20 })).rejects.toThrow(/more than the expected/);
    expect(await cs.list()).toEqual([digest]);
    expect(await fs.readdir(cs.ingestDir)).toEqual([]);
  });

  it('keeps each blob\'s disk usage from commit to delete, durably; on open measures blobs it has no figure for and drops figures without a blob', async () => {
    const db = new Level<string, unknown>(path.join(root, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
    await db.open();
    try {
      const blobsDu = async (cs: ContentStore) => {
        const d = await du(cs.blobsDir);
        const dir = await fs.lstat(cs.blobsDir);
        return { bytes: d.bytes - dir.blocks * 512, inodes: d.inodes - 1 }; // the files, not their directory
      };
      const cs = await ContentStore.open(root, db);
      expect(cs.usage()).toEqual({ bytes: 0, inodes: 0 });
      const big = randomBytes(300_000);
      const small = Buffer.from('small');
      await cs.writeBytes(big, sha256Of(big));
      await cs.writeBytes(small, sha256Of(small));
      expect(cs.usage()).toEqual(await blobsDu(cs));
      await cs.delete(sha256Of(small));
      expect(cs.usage()).toEqual(await blobsDu(cs));
      const figures = db.sublevel<string, unknown>('content', { valueEncoding: 'json' });
      expect(await figures.keys().all()).toEqual([sha256Of(big)]);

      // a blob put in place without a figure (an older berth), a figure whose blob is gone
      const other = Buffer.from('other');
      await fs.writeFile(cs.blobPath(sha256Of(other)), other);
      await figures.put(sha256Of(small), { bytes: 4096, inodes: 1 });
      const again = await ContentStore.open(root, db);
      expect(again.usage()).toEqual(await blobsDu(again));
      expect((await figures.keys().all()).sort()).toEqual([sha256Of(big), sha256Of(other)].sort());
    } finally {
      await db.close();
    }
  });
});
