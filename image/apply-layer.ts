// Applies one layer tar to a directory tree in a single pass (containerd's archive.Apply rules):
// entries replace what is there, `.wh.<name>` deletes <name>, `.wh..wh..opq` empties a directory
// of everything not written by this layer, ownership/modes/times/xattrs/devices are kept.
// When `root` is an overlay mount of the lower layers over a fresh upper dir, the kernel turns
// those deletions into overlay whiteouts in the upper dir. Every path stays inside `root`.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { createHash, InvalidArgumentError, UnimplementedError } from '../common/index.js';
import { isErrno, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/index.js';
import { isChunkReader, pump, readerStream, type ChunkReader } from './chunk-reader.js';
import type { Compression } from './media-types.js';
import { entryComponents, isRealDirInside, resolveDirInside, resolveEntry } from './safe-resolve.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
const INFLATE_CHUNK = 256 << 10;

/** The decompressor for a layer's media type (zlib's gzip and zstd streams); none for a plain tar. */
function decompressor(compression: Compression): Transform | undefined {
  if (compression === 'gzip') return zlib.createGunzip({ chunkSize: INFLATE_CHUNK });
  if (compression === 'zstd') {
    // Looked up when used, so that the module still loads on a Node without zstd (before 22.15;
    // berth needs 24, README): such a Node refuses only zstd layers.
    const create = (zlib as Partial<typeof zlib>).createZstdDecompress;
    if (!create) throw new UnimplementedError(`zstd layers need Node.js 24 (this is ${process.version})`);
    return create({ chunkSize: INFLATE_CHUNK });
  }
  return undefined;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Sum of entry sizes. */
  size: number;
}

type Header = Omit<tar.Header, 'pax'> & { pax?: Record<string, string> | null; atime?: Date };

async function removeExisting(full: string, keepDir: boolean): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(full);
  } catch {
    return false;
  }
  if (keepDir && st.isDirectory()) return true;
  await fs.rm(full, { recursive: true, force: true });
  return false;
}

async function setXattrs(full: string, h: Header, what: string): Promise<void> {
  for (const [k, v] of Object.entries(h.pax ?? {})) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const name = k.slice('SCHILY.xattr.'.length);
    // An image must not steer the overlay driver (redirects, origins) through its own xattrs.
    if (name.startsWith('trusted.overlay.')) continue;
    try {
      lsetxattr(full, name, Buffer.from(v, 'latin1'));
    } catch (err) {
      if (isErrno(err, 'ENOTSUP') || (isErrno(err, 'EPERM') && name.startsWith('user.'))) continue;
      throw new InvalidArgumentError(`${what}: cannot set xattr ${name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Applies the (possibly compressed) layer `source` onto `root`. Throws InvalidArgumentError naming
 * the entry for anything that would leave `root` or is malformed.
 */
export async function applyLayer(root: string, input: Readable | ChunkReader, compression: Compression): Promise<ApplyResult> {
  let inflate: Transform | undefined;
  try {
    inflate = decompressor(compression);
  } catch (err) {
    if (isChunkReader(input)) await input.close();
    else input.destroy();
    throw err;
  }
  const hash = createHash('sha256');
  const extract = tar.extract();
  // Hash the uncompressed bytes on their way into the (streamx) tar parser, with backpressure.
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      if (extract.write(chunk)) cb();
      else extract.once('drain', () => cb());
    },
    final(cb) {
      (extract as unknown as { end(): void }).end();
      cb();
    },
  });
  extract.on('error', (err: Error) => sink.destroy(err));
  // 256 KiB output chunks instead of zlib's 16 KiB: a quarter of the per-chunk work in zlib, the
  // hash, the tar parser and the file writes (a 10 MiB layer unpacks about 4x faster).
  // A reader feeds the decompressor (gzip or zstd) from two reused buffers (chunk-reader.ts); a
  // plain tar goes to the tar parser, which keeps the buffers it is given, so it gets fresh ones.
  let feeding: Promise<unknown>;
  let source: Readable;
  if (inflate && isChunkReader(input)) {
    source = inflate;
    // Both settled before it does: no read of the reader is left running behind this apply.
    feeding = Promise.allSettled([pump(input, inflate), pipeline(inflate, sink)]).then(([fed, parsed]) => {
      if (fed.status === 'rejected') throw fed.reason;
      if (parsed.status === 'rejected') throw parsed.reason;
    });
  } else {
    source = isChunkReader(input) ? readerStream(input) : input;
    feeding = inflate ? pipeline(source, inflate, sink) : pipeline(source, sink);
  }
  feeding.catch((err: unknown) => extract.destroy(err as Error)); // awaited below too
  const written = new Set<string>();
  const dirTimes: DirTime[] = [];
  let size = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header as unknown as Header;
      size += h.size ?? 0;
      await applyEntry(root, h, entry as unknown as AsyncIterable<Uint8Array>, written, dirTimes);
      entry.resume();
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    source.destroy();
    await feeding.catch(() => undefined);
    // zlib's Z_DATA_ERROR covers every corrupt deflate stream (bad header, data or length check);
    // its zstd stream reports a corrupt frame as ZSTD_error_<reason>, a truncated one as Z_BUF_ERROR.
    const code = (err as { code?: unknown }).code;
    const corrupt = code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || (typeof code === 'string' && code.startsWith('ZSTD_error_'));
    if (err instanceof Error && !(err as { kind?: string }).kind && (corrupt || /incorrect header check|unexpected end|Invalid tar header|Unexpected end/i.test(err.message))) {
      throw new InvalidArgumentError(`layer is not a valid ${compression === 'none' ? '' : `${compression} `}tar: ${err.message}`, { cause: err });
    }
    throw err;
  }
  for (const d of dirTimes.reverse()) {
    // A later entry of the same layer may have replaced or removed the directory, or turned one
    // of its parents into a symlink (which the kernel would follow out of the root): only a
    // symlink-free path to the very inode this layer made or kept gets its time.
    if (await isRealDirInside(root, d.full, d.ino)) await fs.lutimes(d.full, d.mtime, d.mtime);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

interface DirTime {
  readonly full: string;
  readonly ino: number;
  readonly mtime: Date;
}

async function applyEntry(root: string, h: Header, body: AsyncIterable<Uint8Array>, written: Set<string>,
  dirTimes: DirTime[]): Promise<void> {
  const what = `layer entry ${JSON.stringify(h.name)}`;
  if ((h.type as string) === 'pax-global-header') return;
  const comps = entryComponents(h.name, what);
  if (comps.length === 0) return; // the root itself is skipped
  const base = comps[comps.length - 1]!;

  if (base.startsWith(WHITEOUT_PREFIX)) {
    const dir = await resolveDirInside(root, comps.slice(0, -1), what, true);
    if (base === OPAQUE) {
      for (const child of await fs.readdir(dir)) {
        const full = path.join(dir, child);
        if (!written.has(full)) await fs.rm(full, { recursive: true, force: true });
      }
      return;
    }
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..' || target.includes('/')) {
      throw new InvalidArgumentError(`${what}: invalid whiteout name`);
    }
    await fs.rm(path.join(dir, target), { recursive: true, force: true });
    return;
  }

  const { full } = await resolveEntry(root, comps, what);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtime = h.mtime ?? new Date(0);
  const type = h.type ?? 'file';
  const keptDir = await removeExisting(full, type === 'directory');
  switch (type) {
    case 'directory':
      if (!keptDir) await fs.mkdir(full, { mode: 0o700 });
      dirTimes.push({ full, mtime, ino: (await fs.lstat(full)).ino });
      break;
    case 'file':
    case 'contiguous-file':
      await writeNewFile(full, body);
      break;
    case 'symlink':
      if (!h.linkname) throw new InvalidArgumentError(`${what}: symlink without target`);
      await fs.symlink(h.linkname, full);
      break;
    case 'link': {
      const lcomps = entryComponents(h.linkname ?? '', `${what} hardlink target`);
      if (lcomps.length === 0) throw new InvalidArgumentError(`${what}: hardlink to the layer root`);
      const tdir = await resolveDirInside(root, lcomps.slice(0, -1), `${what} hardlink target`, false);
      const target = path.join(tdir, lcomps[lcomps.length - 1]!);
      const st = await fs.lstat(target).catch(() => undefined);
      if (!st || st.isDirectory()) throw new InvalidArgumentError(`${what}: hardlink target ${JSON.stringify(h.linkname)} is missing or a directory`);
      await fs.link(target, full);
      break;
    }
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      const kind = type === 'fifo' ? S_IFIFO : type === 'character-device' ? S_IFCHR : S_IFBLK;
      mknod(full, kind | mode, h.devmajor ?? 0, h.devminor ?? 0);
      break;
    }
    default:
      throw new InvalidArgumentError(`${what}: unhandled tar header type ${String(type)}`);
  }
  for (let p = full; p.length > root.length && p.startsWith(root); p = path.dirname(p)) written.add(p);
  if (type === 'link') return; // shares the target's inode, which carries its own metadata
  await fs.lchown(full, h.uid ?? 0, h.gid ?? 0);
  if (type !== 'symlink') await fs.chmod(full, mode);
  await setXattrs(full, h, what);
  if (type !== 'directory') await fs.lutimes(full, h.atime ?? mtime, mtime);
}

/** File bodies are written in batches of about this many bytes (one writev each), not per chunk. */
const WRITE_BATCH = 1 << 20;

async function writeNewFile(full: string, body: AsyncIterable<Uint8Array>): Promise<void> {
  // 'wx' is O_CREAT|O_EXCL: never follows a symlink planted at the final component.
  const fh = await fs.open(full, 'wx', 0o600);
  try {
    let batch: Uint8Array[] = [];
    let pending = 0;
    for await (const chunk of body) {
      batch.push(chunk);
      pending += chunk.length;
      if (pending >= WRITE_BATCH) {
        await writeAll(fh, batch, pending);
        batch = [];
        pending = 0;
      }
    }
    if (pending > 0) await writeAll(fh, batch, pending);
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: fs.FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
  let { bytesWritten } = await fh.writev(chunks);
  while (bytesWritten < total) { // a short write: the rest, as one buffer
    const rest = Buffer.concat(chunks).subarray(bytesWritten);
    bytesWritten += (await fh.write(rest)).bytesWritten;
  }
}
