import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError, silentLogger } from '../common/index.js';
import { makeLayer } from '../test/fixtures/oci-image.js';
import { bundleEntry } from '../test/helpers/bundle.js';
import { ContentStore, sha256Of } from './content-store.js';
import { GrowingFile, readGrowing } from './growing-file.js';
import { Unpacker } from './unpacker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tmp: string;
let script: string;
beforeAll(async () => {
  script = await bundleEntry('image/unpack-worker.ts');
});
afterAll(async () => {
  await fs.rm(script, { force: true });
});
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-growing-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A file written piece by piece, with a GrowingFile told after each piece, as ContentStore.write does. */
async function grower(data: Buffer, pieces: number) {
  const file = path.join(tmp, `ingest-${Math.random().toString(16).slice(2)}`);
  const w = await fs.open(file, 'wx');
  const g = new GrowingFile();
  expect(g.attach(await fs.open(file, 'r'))).toBe(true);
  const step = Math.ceil(data.length / pieces);
  const write = async (opts: { fail?: Error; stopAt?: number; delayMs?: number } = {}) => {
    try {
      for (let at = 0; at < data.length; at += step) {
        if (opts.stopAt !== undefined && at >= opts.stopAt) {
          g.failed(opts.fail ?? new Error('stopped'));
          return;
        }
        await w.write(data.subarray(at, at + step), 0, undefined, at);
        g.grew(Math.min(at + step, data.length));
        await sleep(opts.delayMs ?? 2);
      }
      g.finished(data.length);
    } finally {
      await w.close();
    }
  };
  return { g, write, file };
}

async function collect(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('readGrowing', () => {
  it('reads exactly what is written as it grows and ends only when the file is final', async () => {
    const data = randomBytes(3 * (1 << 20) + 777);
    const { g, write } = await grower(data, 9);
    let ended = false;
    const reading = collect(readGrowing(g.fd!, g)).then((b) => { ended = true; return b; });
    const writing = write();
    await sleep(5);
    expect(ended).toBe(false);
    await writing;
    expect((await reading).equals(data)).toBe(true);
    await g.close();
    await g.close(); // idempotent
  });

  it('fails with the writer\'s error when the download fails, never ending cleanly', async () => {
    const data = randomBytes(1 << 20);
    const { g, write } = await grower(data, 8);
    const reading = collect(readGrowing(g.fd!, g)).catch((e: unknown) => e);
    await write({ stopAt: 1 << 19, fail: new FailedPreconditionError('unexpected commit digest') });
    expect(await reading).toMatchObject({ kind: 'failed-precondition', message: 'unexpected commit digest' });
    await g.close();
  });

  it('attaches once: a second attempt of the same download is not followed', async () => {
    const g = new GrowingFile();
    const f = path.join(tmp, 'x');
    await fs.writeFile(f, '');
    const h1 = await fs.open(f, 'r');
    const h2 = await fs.open(f, 'r');
    expect(g.attach(h1)).toBe(true);
    expect(g.attach(h2)).toBe(false);
    await h2.close();
    await g.close();
  });
});

describe('following a download into an unpack', () => {
  for (const threaded of [true, false]) {
    it(`applies a layer while its file grows and verifies its diffID (${threaded ? 'worker' : 'calling thread'})`, async () => {
      const unpacker = new Unpacker({ script: threaded ? script : undefined, log: silentLogger });
      await unpacker.ready();
      try {
        const l = await makeLayer([{ name: 'big', content: randomBytes(2 << 20) }, { name: 'small', content: 'end' }]);
        const { g, write } = await grower(l.data, 16);
        const root = path.join(tmp, 'root');
        await fs.mkdir(root);
        let settled = false;
        const applying = unpacker.apply(root, { growing: g }, 'gzip').finally(() => { settled = true; });
        const writing = write({ delayMs: 3 });
        await sleep(10);
        expect(settled).toBe(false); // not before the download is final
        await writing;
        expect((await applying).diffId).toBe(l.diffId);
        expect(await fs.readFile(path.join(root, 'small'), 'utf8')).toBe('end');
        await g.close();
      } finally {
        await unpacker.close();
      }
    });

    it(`fails the apply when the followed download fails (${threaded ? 'worker' : 'calling thread'})`, async () => {
      const unpacker = new Unpacker({ script: threaded ? script : undefined, log: silentLogger });
      await unpacker.ready();
      try {
        const l = await makeLayer([{ name: 'big', content: randomBytes(1 << 20) }]);
        const { g, write } = await grower(l.data, 8);
        const root = path.join(tmp, 'root');
        await fs.mkdir(root);
        const applying = unpacker.apply(root, { growing: g }, 'gzip').catch((e: unknown) => e);
        await write({ stopAt: l.data.length / 2, fail: new FailedPreconditionError('content x: unexpected commit digest') });
        expect(await applying).toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/unexpected commit digest/) });
        await g.close();
      } finally {
        await unpacker.close();
      }
    });
  }
});

describe('ContentStore.write with a follower', () => {
  it('tells the follower how far the ingest is written, then final after the rename', async () => {
    const cs = await ContentStore.open(tmp);
    const data = randomBytes(3 << 20);
    const g = new GrowingFile();
    const sizes: number[] = [];
    g.subscribe((s) => { if (!(s instanceof Error)) sizes.push(s.size); });
    const reading = (async () => {
      await g.attached;
      return collect(readGrowing(g.fd!, g));
    })();
    const pieces = [];
    for (let i = 0; i < data.length; i += 64 << 10) pieces.push(data.subarray(i, i + (64 << 10)));
    await cs.write(Readable.from(pieces), { digest: sha256Of(data), size: data.length }, undefined, g);
    expect(g.state).toEqual({ size: data.length, final: true });
    expect(sizes.length).toBeGreaterThan(2);
    expect((await reading).equals(data)).toBe(true);
    expect(await cs.has(sha256Of(data))).toBe(true);
    await g.close();
  });

  it('fails the follower when the digest does not match, and keeps no blob', async () => {
    const cs = await ContentStore.open(tmp);
    const data = randomBytes(1 << 20);
    const g = new GrowingFile();
    const reading = (async () => {
      await g.attached;
      return collect(readGrowing(g.fd!, g));
    })().catch((e: unknown) => e);
    const wrong = sha256Of(Buffer.from('other'));
    await expect(cs.write(Readable.from([data]), { digest: wrong, size: data.length }, undefined, g))
      .rejects.toMatchObject({ kind: 'failed-precondition' });
    expect(await reading).toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/unexpected commit digest/) });
    expect(g.state.final).toBe(false);
    expect(await cs.has(wrong)).toBe(false);
    expect(await fs.readdir(cs.ingestDir)).toEqual([]);
    await g.close();
  });
});
