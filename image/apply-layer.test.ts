import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { zstdCompressSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../common/index.js';
import { hostileEntries, hostileKinds, hostileTargetsExisting, makeLayer, type LayerEntry } from '../test/fixtures/oci-image.js';
import { applyLayer } from './apply-layer.js';
import { fileReader, type ChunkReader } from './chunk-reader.js';

let tmp: string;
let root: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-apply-'));
  root = path.join(tmp, 'root');
  await fs.mkdir(root);
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function apply(entries: LayerEntry[], gzip = true) {
  const l = await makeLayer(entries, { gzip });
  const r = await applyLayer(root, Readable.from([l.data]), gzip ? 'gzip' : 'none');
  expect(r.diffId).toBe(l.diffId);
  return r;
}

describe('applyLayer', () => {
  it('writes large files exactly (batched writes over many input chunks), from gzip and plain tars', async () => {
    const big = randomBytes(3 * (1 << 20) + 12345);
    const small = Buffer.from('tail');
    for (const gzip of [true, false]) {
      const l = await makeLayer([{ name: `big${gzip}`, content: big }, { name: `small${gzip}`, content: small }], { gzip });
      // Fed in odd-sized pieces so chunk boundaries never line up with the batches.
      const pieces: Buffer[] = [];
      for (let i = 0; i < l.data.length; i += 7777) pieces.push(l.data.subarray(i, i + 7777));
      const r = await applyLayer(root, Readable.from(pieces), gzip ? 'gzip' : 'none');
      expect(r.diffId).toBe(l.diffId);
      expect((await fs.readFile(path.join(root, `big${gzip}`))).equals(big)).toBe(true);
      expect(await fs.readFile(path.join(root, `small${gzip}`), 'utf8')).toBe('tail');
    }
  });

  it('keeps files, modes, owners, links, devices and times', async () => {
    await apply([
      { name: 'd/', type: 'directory', mode: 0o750, uid: 12, gid: 34 },
      { name: 'd/f', content: 'hello', mode: 0o4755, uid: 5, gid: 6 },
      { name: 'd/s', type: 'symlink', linkname: '/etc/hostname' },
      { name: 'd/h', type: 'link', linkname: 'd/f' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'p', type: 'fifo', mode: 0o600 },
    ], false);
    const f = await fs.lstat(path.join(root, 'd/f'));
    expect(f.mode & 0o7777).toBe(0o4755);
    expect([f.uid, f.gid]).toEqual([5, 6]);
    expect(f.nlink).toBe(2);
    expect(await fs.readFile(path.join(root, 'd/h'), 'utf8')).toBe('hello');
    expect(await fs.readlink(path.join(root, 'd/s'))).toBe('/etc/hostname');
    const d = await fs.stat(path.join(root, 'd'));
    expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o750, 12, 34]);
    expect(d.mtime.toISOString()).toBe('2023-01-01T00:00:00.000Z');
    const dev = await fs.stat(path.join(root, 'dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(0x103);
    expect((await fs.lstat(path.join(root, 'p'))).isFIFO()).toBe(true);
  });

  it('applies whiteouts and opaque directories by deletion', async () => {
    await apply([{ name: 'a/x', content: '1' }, { name: 'a/y', content: '2' }, { name: 'b/z', content: '3' }, { name: 'c', content: '4' }]);
    await apply([{ name: 'a/new', content: 'n' }, { name: 'a/.wh..wh..opq' }, { name: '.wh.c' }, { name: 'b/.wh.z' }]);
    expect((await fs.readdir(path.join(root, 'a'))).sort()).toEqual(['new']);
    expect(await fs.readdir(path.join(root, 'b'))).toEqual([]);
    await expect(fs.lstat(path.join(root, 'c'))).rejects.toThrow(/ENOENT/);
  });

  it('follows in-root symlinked parents, re-rooting absolute targets', async () => {
    await apply([{ name: 'usr/lib/', type: 'directory' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'var/run', type: 'symlink', linkname: '/run' }]);
    await apply([{ name: 'lib/x.so', content: 'so' }, { name: 'var/run/pid', content: '1' }]);
    expect(await fs.readFile(path.join(root, 'usr/lib/x.so'), 'utf8')).toBe('so');
    expect(await fs.readFile(path.join(root, 'run/pid'), 'utf8')).toBe('1');
  });

  it('replaces a planted symlink instead of writing through it', async () => {
    const outside = path.join(tmp, 'victim');
    await fs.writeFile(outside, 'safe');
    await apply([{ name: 'f', type: 'symlink', linkname: outside }]);
    await apply([{ name: 'f', content: 'new' }]);
    expect(await fs.readFile(outside, 'utf8')).toBe('safe');
    expect(await fs.readFile(path.join(root, 'f'), 'utf8')).toBe('new');
  });

  it.each(hostileKinds)('refuses the hostile layer %s, naming the entry', async (kind) => {
    const outsideDir = path.join(tmp, 'outside');
    await fs.mkdir(outsideDir);
    const victim = path.join(outsideDir, 'victim');
    await fs.writeFile(victim, 'safe');
    const target = hostileTargetsExisting(kind) ? victim : path.join(outsideDir, 'pwned');
    const l = await makeLayer(hostileEntries(kind, target));
    let err: unknown;
    try {
      await applyLayer(root, Readable.from([l.data]), 'gzip');
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect((err as Error).message).toMatch(/layer entry "/);
    expect((await fs.readdir(outsideDir)).sort()).toEqual(['victim']);
    expect(await fs.readFile(victim, 'utf8')).toBe('safe');
    await expect(fs.stat(path.join(root, 'stolen'))).rejects.toThrow(/ENOENT/);
  });

  it('re-roots an absolute symlinked parent pointing at a real host dir: the write lands inside', async () => {
    const outsideDir = path.join(tmp, 'outside');
    await fs.mkdir(outsideDir);
    await apply([{ name: 'escape', type: 'symlink', linkname: outsideDir }, { name: 'escape/pwned', content: 'x' },
      { name: 'escape/.wh.victim' }, { name: 'hl', type: 'link', linkname: 'escape/pwned' }]);
    expect(await fs.readdir(outsideDir)).toEqual([]);
    expect(await fs.readFile(path.join(root, outsideDir, 'pwned'), 'utf8')).toBe('x');
    expect((await fs.lstat(path.join(root, 'hl'))).nlink).toBe(2);
  });

  it('never touches a host dir through a parent a later entry turned into a symlink (dir times)', async () => {
    // `a/sub/` gets its mtime at the end of the layer; by then `a` is a symlink to the host.
    const outsideDir = path.join(tmp, 'outside');
    await fs.mkdir(path.join(outsideDir, 'sub'), { recursive: true });
    const old = new Date('2001-01-01T00:00:00Z');
    await fs.utimes(path.join(outsideDir, 'sub'), old, old);
    await apply([{ name: 'a/', type: 'directory' }, { name: 'a/sub/', type: 'directory' }, { name: '.wh.a' },
      { name: 'a', type: 'symlink', linkname: outsideDir }]);
    expect((await fs.stat(path.join(outsideDir, 'sub'))).mtime.toISOString()).toBe(old.toISOString());
    expect(await fs.readlink(path.join(root, 'a'))).toBe(outsideDir);
  });

  it('replaces device nodes and fifos instead of writing into them', async () => {
    await apply([{ name: 'disk', type: 'block-device', devmajor: 7, devminor: 0 },
      { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }, { name: 'pipe', type: 'fifo' }]);
    await apply([{ name: 'disk', content: 'a' }, { name: 'null', content: 'b' }, { name: 'pipe', content: 'c' }]);
    for (const [n, c] of [['disk', 'a'], ['null', 'b'], ['pipe', 'c']] as const) {
      expect((await fs.lstat(path.join(root, n))).isFile()).toBe(true);
      expect(await fs.readFile(path.join(root, n), 'utf8')).toBe(c);
    }
  });

  it('refuses a symlink loop on the path with InvalidArgument', async () => {
    const l = await makeLayer([{ name: 'x', type: 'symlink', linkname: 'y' }, { name: 'y', type: 'symlink', linkname: 'x' },
      { name: 'x/f', content: '1' }]);
    await expect(applyLayer(root, Readable.from([l.data]), 'gzip')).rejects.toMatchObject({
      kind: 'invalid-argument', message: expect.stringMatching(/too many levels of symbolic links/),
    });
  });

  it('reports a corrupt gzip stream as InvalidArgument', async () => {
    const l = await makeLayer([{ name: 'a', content: 'x' }]);
    l.data[l.data.length - 6] ^= 0xff;
    await expect(applyLayer(root, Readable.from([l.data.subarray(0, 20)]), 'gzip')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('applies a zstd layer from a stream and from a ChunkReader; a corrupt or cut one is InvalidArgument', async () => {
    const big = randomBytes(3 * (1 << 20) + 777);
    const plain = await makeLayer([{ name: 'd/big', content: big }, { name: 'd/small', content: 'z' }], { gzip: false });
    const zst = zstdCompressSync(plain.data);
    expect(zst.readUInt32LE(0)).toBe(0xfd2fb528); // a zstd frame, not the tar itself
    const pieces = [zst.subarray(0, 100), zst.subarray(100, 70_000), zst.subarray(70_000)];
    const fromStream = await applyLayer(root, Readable.from(pieces), 'zstd');
    expect(fromStream.diffId).toBe(plain.diffId);
    expect((await fs.readFile(path.join(root, 'd/big'))).equals(big)).toBe(true);
    const file = path.join(tmp, 'layer.zst');
    await fs.writeFile(file, zst);
    const other = await fs.mkdtemp(path.join(tmp, 'r-'));
    expect((await applyLayer(other, fileReader(file), 'zstd')).diffId).toBe(plain.diffId);
    expect(await fs.readFile(path.join(other, 'd/small'), 'utf8')).toBe('z');
    const corrupt = Buffer.from(zst);
    corrupt.fill(0x55, 0, 8);
    await expect(applyLayer(await fs.mkdtemp(path.join(tmp, 'r-')), Readable.from([corrupt]), 'zstd')).rejects.toMatchObject({
      kind: 'invalid-argument', message: expect.stringMatching(/not a valid zstd tar/),
    });
    await fs.writeFile(file, zst.subarray(0, zst.length >> 1));
    await expect(applyLayer(await fs.mkdtemp(path.join(tmp, 'r-')), fileReader(file), 'zstd')).rejects.toMatchObject({ kind: 'invalid-argument' });
    // gzip bytes labelled zstd: the media type decides, and the bytes do not match it
    const gz = await makeLayer([{ name: 'g', content: 'g' }]);
    await expect(applyLayer(await fs.mkdtemp(path.join(tmp, 'r-')), Readable.from([gz.data]), 'zstd')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('takes a ChunkReader: a big gzip layer through reused buffers, a plain one, a corrupt one, a failing reader', async () => {
    const big = randomBytes(5 * (1 << 20) + 4321);
    for (const gzip of [true, false]) {
      const l = await makeLayer([{ name: `big${gzip}`, content: big }, { name: `tail${gzip}`, content: 'tail' }], { gzip });
      const file = path.join(tmp, `layer${gzip}`);
      await fs.writeFile(file, l.data);
      const r = await applyLayer(root, fileReader(file), gzip ? 'gzip' : 'none');
      expect(r.diffId).toBe(l.diffId);
      expect((await fs.readFile(path.join(root, `big${gzip}`))).equals(big)).toBe(true);
    }
    const l = await makeLayer([{ name: 'f', content: randomBytes(3 << 20) }]);
    const corrupt = Buffer.from(l.data);
    corrupt.fill(0x55, 1000, 3000);
    const file = path.join(tmp, 'corrupt');
    await fs.writeFile(file, corrupt);
    await expect(applyLayer(await fs.mkdtemp(path.join(tmp, 'r-')), fileReader(file), 'gzip')).rejects.toMatchObject({ kind: 'invalid-argument' });
    let pos = 0;
    let closed = false;
    const failing: ChunkReader = {
      async read(into) {
        if (pos > (1 << 20)) throw Object.assign(new Error('download cut'), { kind: 'failed-precondition' });
        const n = l.data.copy(into, 0, pos, pos + 65536);
        pos += n;
        return n;
      },
      async close() { closed = true; },
    };
    await expect(applyLayer(await fs.mkdtemp(path.join(tmp, 'r-')), failing, 'gzip')).rejects.toMatchObject({ message: 'download cut' });
    expect(closed).toBe(true);
  });
});
