import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, sha256Of } from './content-store.js';

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
});
