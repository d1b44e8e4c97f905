import { Level } from 'level';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError, silentLogger } from '../common/index.js';
import { makeLayer, type Layer, type LayerEntry } from '../test/fixtures/oci-image.js';
import { du } from '../test/helpers/du.js';
import type { ImageDb } from './json-table.js';
import { chainIdsOf } from './pull.js';
import { Snapshotter } from './snapshots.js';

let tmp: string;
let db: ImageDb;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-snap-'));
  db = new Level<string, unknown>(path.join(tmp, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
});
afterEach(async () => {
  await db.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

const root = () => path.join(tmp, 'root');
const commit = (s: Snapshotter, layers: Layer[], i: number) => {
  const chain = chainIdsOf(layers.map((l) => l.diffId));
  return s.commitLayer(chain[i]!, i === 0 ? '' : chain[i - 1]!, layers[i]!.diffId, { open: () => Readable.from([layers[i]!.data]) }, 'gzip');
};
const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(tmp);

describe('Snapshotter', () => {
  it('applies later layers through overlay: lower symlinks resolve, deletions become whiteouts', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const layers = [
      await makeLayer([
        { name: 'usr/lib/', type: 'directory' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
        { name: 'gone', content: 'x' }, { name: 'dir/a', content: 'a' }, { name: 'dir/b', content: 'b' },
      ]),
      await makeLayer([{ name: 'lib/x.so', content: 'so' }, { name: '.wh.gone' }, { name: 'dir/.wh..wh..opq' }, { name: 'dir/c', content: 'c' }]),
    ];
    await commit(s, layers, 0);
    const top = await commit(s, layers, 1);
    const upper = s.fsDir(top);
    expect(await fs.readFile(path.join(upper, 'usr/lib/x.so'), 'utf8')).toBe('so');
    const wh = await fs.lstat(path.join(upper, 'gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    const [a, c] = await Promise.all([fs.lstat(path.join(upper, 'dir/a')), fs.readFile(path.join(upper, 'dir/c'), 'utf8')]);
    expect(a.isCharacterDevice()).toBe(true);
    expect(c).toBe('c');
    expect(mounted()).toBe(false);
    expect((await fs.readdir(s.dir)).sort()).toEqual(['1', '2']);
  });

  it('removes an rw snapshot\'s record at once and its directory after (dirLater); a directory left behind goes at the next open', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const base = await commit(s, [await makeLayer([{ name: 'a', content: 'a' }])], 0);
    await s.prepare('rw-1', base.key);
    await s.prepare('rw-2', base.key);
    const dirOf = (key: string) => path.dirname(s.fsDir(s.get(key)!));
    const [one, two] = [dirOf('rw-1'), dirOf('rw-2')];
    await fs.writeFile(path.join(one, 'fs', 'written'), Buffer.alloc(10_000, 1));
    const changes = s.changes;
    expect(await s.remove('rw-1', undefined, { dirLater: true })).toBe(true);
    expect(s.get('rw-1')).toBeUndefined();
    expect(s.list().map((r) => r.key).sort()).toEqual([base.key, 'rw-2'].sort());
    await s.removals();
    await expect(fs.stat(one)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(s.changes).toBeGreaterThan(changes);
    // A daemon stopped before the removal ran: the record is gone, the directory is still there.
    await s.remove('rw-2');
    await fs.mkdir(path.join(two, 'fs'), { recursive: true });
    await Snapshotter.open(root(), db, silentLogger);
    await expect(fs.stat(two)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fs.readdir(s.dir)).sort()).toEqual([path.basename(path.dirname(s.fsDir(base)))]);
  });

  it('measures stale rw snapshots one per turn of the event loop, so the call that asked is answered first', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const base = await commit(s, [await makeLayer([{ name: 'a', content: 'a' }])], 0);
    const keys = ['rw-a', 'rw-b', 'rw-c'];
    for (const k of keys) await s.prepare(k, base.key);
    const figures = () => Promise.all(keys.map((k) => s.usage(k, Number.MAX_SAFE_INTEGER))); // the last ones, never a new walk
    const before = await figures();
    const refresh = s.refreshActive(-1); // every figure is stale
    // An I/O callback or a reply queued now runs before the walks are all done.
    const then = await new Promise<Awaited<ReturnType<typeof figures>>>((r) => setImmediate(() => r(figures())));
    expect(then.filter((m, i) => m !== before[i]).length).toBeLessThan(keys.length);
    await refresh;
    const after = await figures();
    expect(after.every((m, i) => m !== before[i])).toBe(true);
  });

  it('applies through a volatile overlay (no sync of the whole upper filesystem at unmount)', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const layers = [await makeLayer([{ name: 'a', content: 'a' }]), await makeLayer([{ name: 'b', content: 'b' }])];
    await commit(s, layers, 0);
    const chain = chainIdsOf(layers.map((l) => l.diffId));
    let line: string | undefined;
    // open() runs once the apply overlay is mounted.
    await s.commitLayer(chain[1]!, chain[0]!, layers[1]!.diffId, {
      open: () => {
        line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(tmp) && l.includes(' overlay '));
        return Readable.from([layers[1]!.data]);
      },
    }, 'gzip');
    expect(line).toMatch(/[ ,](fsync=)?volatile(,|$)/); // newer kernels show `fsync=volatile`
    expect(mounted()).toBe(false);
    expect(await fs.readFile(path.join(s.fsDir(s.get(chain[1]!)!), 'b'), 'utf8')).toBe('b');
  });

  it('drops leftovers of an interrupted unpack on open and keeps committed ones', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const layers = [await makeLayer([{ name: 'f', content: 'x' }])];
    await commit(s, layers, 0);
    await fs.mkdir(path.join(s.dir, 'tmp-7-abcd', 'fs'), { recursive: true });
    await fs.mkdir(path.join(s.dir, '99', 'fs'), { recursive: true });
    const again = await Snapshotter.open(root(), db, silentLogger);
    expect(await fs.readdir(again.dir)).toEqual(['1']);
    expect(again.list()).toHaveLength(1);
    await expect(again.remove('sha256:nope')).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('records a layer\'s usage at commit; measures a container snapshot again only when its figure is too old, once for callers together', async () => {
    const s = await Snapshotter.open(root(), db, silentLogger);
    const layers = [
      await makeLayer([{ name: 'd/', type: 'directory' }, { name: 'd/f', content: Buffer.alloc(70_000, 1) }]),
      await makeLayer([{ name: 'd/.wh.f' }, { name: 'g', content: 'g' }]),
    ];
    const base = await commit(s, layers, 0);
    const top = await commit(s, layers, 1);
    const dirOf = (key: string) => path.dirname(s.fsDir(s.get(key)!));
    expect(base.usage).toEqual(await du(dirOf(base.key)));
    expect(top.usage).toEqual(await du(dirOf(top.key)));
    await s.prepare('rw', top.key);
    const first = await s.usage('rw', 60_000);
    expect(first!.usage).toEqual(await du(dirOf('rw')));
    await fs.writeFile(path.join(dirOf('rw'), 'fs', 'written'), Buffer.alloc(40_000, 2));
    expect(await s.usage('rw', 60_000)).toBe(first); // fresh enough: the same figure, no walk
    const [x, y] = await Promise.all([s.usage('rw', 0), s.usage('rw', 0)]);
    expect(x).toBe(y); // one walk for both
    expect(x!.usage).toEqual(await du(dirOf('rw')));
    expect(s.totalUsage()).toEqual({ usage: await du(dirOf(base.key), dirOf(top.key), dirOf('rw')), oldestAt: x!.at, unmeasured: 0, active: await du(dirOf('rw')) });
    await s.remove('rw');
    expect(await s.usage('rw', 0)).toBeUndefined();
    expect(s.totalUsage()).toEqual({ usage: await du(dirOf(base.key), dirOf(top.key)), oldestAt: undefined, unmeasured: 0, active: { bytes: 0, inodes: 0 } });
  });

  it('fuzz: random upper layers over overlay only succeed or fail with InvalidArgument, leaving no tmp, mount or outside write', async () => {
    const outside = path.join(tmp, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'victim'), 'safe');
    const s = await Snapshotter.open(root(), db, silentLogger);
    const base = await makeLayer([{ name: 'a/b/', type: 'directory' }, { name: 'l', type: 'symlink', linkname: 'a' },
      { name: 'up', type: 'symlink', linkname: '../../../../..' }, { name: 'a/f', content: 'f' }]);
    await commit(s, [base, base], 0);
    let seed = 42;
    const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const parts = ['a', 'b', 'l', 'up', 'f', '.wh.a', '.wh..wh..opq', 'new'];
    const kinds: NonNullable<LayerEntry['type']>[] = ['file', 'directory', 'symlink', 'link'];
    for (let i = 0; i < 40; i++) {
      const entries: LayerEntry[] = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
        const type = pick(kinds);
        return {
          name: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(parts)).join('/'), type,
          content: type === 'file' ? 'pwned' : undefined,
          linkname: type === 'symlink' || type === 'link' ? pick(['a/f', 'l/f', 'up/victim', '/a', '../x', 'f']) : undefined,
        };
      });
      const l = await makeLayer(entries);
      const outcome = await commit(s, [base, l], 1).then(() => 'ok', (e: unknown) => (isBerthError(e) ? e.kind : String(e)));
      expect(['ok', 'invalid-argument']).toContain(outcome);
    }
    expect(await fs.readdir(outside)).toEqual(['victim']);
    expect((await fs.readdir(s.dir)).filter((n) => n.startsWith('tmp-'))).toEqual([]);
    expect(mounted()).toBe(false);
  });
});
