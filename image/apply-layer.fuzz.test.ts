// Randomised layers built from a hostile alphabet (`..`, absolute names, symlinks in and out,
// hardlinks, whiteouts, opaque markers): every apply either succeeds or fails with
// InvalidArgument, and nothing outside the layer root ever changes.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../common/index.js';
import { makeLayer, type LayerEntry } from '../test/fixtures/oci-image.js';
import { applyLayer } from './apply-layer.js';
import type { ChunkReader } from './chunk-reader.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

let tmp: string;
let outside: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-fuzz-'));
  outside = path.join(tmp, 'outside');
  await fs.mkdir(path.join(outside, 'd'), { recursive: true });
  await fs.writeFile(path.join(outside, 'victim'), 'safe');
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function snapshotOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const st = await fs.lstat(p);
    out.push(`${p}:${st.mode}:${st.size}:${st.nlink}:${st.mtimeMs}`);
    if (e.isDirectory()) out.push(...await snapshotOf(p));
  }
  return out.sort();
}

describe('applyLayer fuzz', () => {
  it('never escapes and only fails with InvalidArgument', async () => {
    const before = await snapshotOf(tmp.replace(/$/, '/outside'));
    const rand = rng(20260101);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const parts = ['a', 'b', 'c', '..', '.', 'd', '.wh.a', '.wh..wh..opq', '.wh...', ''];
    const targets = ['a', '../outside', `${outside}`, '/', '../../..', 'a/b', '.', '..', `${outside}/d`, 'c/../..'];
    const kinds: NonNullable<LayerEntry['type']>[] = ['file', 'directory', 'symlink', 'link', 'fifo'];
    const outcomes = new Map<string, number>();
    for (let iter = 0; iter < 150; iter++) {
      const root = path.join(tmp, `root-${iter}`);
      await fs.mkdir(root);
      for (let layer = 0; layer < 2; layer++) {
        const entries: LayerEntry[] = [];
        const n = 1 + Math.floor(rand() * 6);
        for (let i = 0; i < n; i++) {
          const depth = 1 + Math.floor(rand() * 3);
          let name = Array.from({ length: depth }, () => pick(parts)).join('/');
          if (rand() < 0.1) name = `/${name}`;
          if (name === '' ) name = 'x';
          const type = pick(kinds);
          entries.push({
            name, type, content: type === 'file' ? 'pwned' : undefined,
            linkname: type === 'symlink' || type === 'link' ? pick(targets) : undefined,
          });
        }
        let l;
        try {
          l = await makeLayer(entries);
        } catch {
          continue; // the tar writer itself refused (e.g. an empty name)
        }
        let outcome = 'ok';
        try {
          // Half the layers through a ChunkReader (reused input buffers), as the unpack worker feeds them.
          await applyLayer(root, rand() < 0.5 ? Readable.from([l.data]) : memoryReader(l.data, 1 + Math.floor(rand() * 4096)), 'gzip');
        } catch (err) {
          outcome = isBerthError(err) ? err.kind : `raw ${(err as Error).message}`;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        expect(outcome === 'ok' || outcome === 'invalid-argument', `${outcome} for ${JSON.stringify(entries)}`).toBe(true);
      }
      await fs.rm(root, { recursive: true, force: true });
    }
    expect(await snapshotOf(outside)).toEqual(before);
    expect(await fs.readFile(path.join(outside, 'victim'), 'utf8')).toBe('safe');
    expect(outcomes.get('ok')).toBeGreaterThan(0);
    expect(outcomes.get('invalid-argument')).toBeGreaterThan(0);
  });
});

/** A ChunkReader over `data` that returns at most `step` bytes per read. */
function memoryReader(data: Buffer, step: number): ChunkReader {
  let pos = 0;
  return {
    async read(into) {
      const n = data.copy(into, 0, pos, Math.min(data.length, pos + step, pos + into.length));
      pos += n;
      return n;
    },
    async close() {},
  };
}
