// Pull sources of layer bytes that read into the caller's buffer, so a gzip layer is fed to
// gunzip from two reused buffers instead of a fresh 1 MiB Buffer per read (on this class of VM a
// fresh buffer's first touch, page faults, costs more than the read itself).
import { read } from 'node:fs';
import fs from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

export interface ChunkReader {
  /** Reads up to `into.length` bytes into `into`; 0 at the end. */
  read(into: Buffer): Promise<number>;
  /** Releases what the reader holds (idempotent). */
  close(): Promise<void>;
}

export const READ_CHUNK = 1 << 20;

export function isChunkReader(s: Readable | ChunkReader): s is ChunkReader {
  return !(s instanceof Readable);
}

/** Positional reads of `fd` from offset 0; `avail(pos)` says how many bytes are there to read (0: the end). */
export function fdReader(fd: number, avail: (pos: number) => Promise<number>, close: () => Promise<void> = async () => undefined): ChunkReader {
  let pos = 0;
  return {
    async read(into) {
      const n = Math.min(into.length, await avail(pos));
      if (n <= 0) return 0;
      const got = await new Promise<number>((res, rej) => read(fd, into, 0, n, pos, (e, k) => (e ? rej(e) : res(k))));
      pos += got;
      return got;
    },
    close,
  };
}

/** A whole file (a stored blob), opened at the first read. */
export function fileReader(file: string): ChunkReader {
  let handle: Promise<fs.FileHandle> | undefined;
  let closed = false;
  let pos = 0;
  return {
    async read(into) {
      if (closed) throw new Error(`${file}: read after close`);
      const fh = await (handle ??= fs.open(file, 'r'));
      const { bytesRead } = await fh.read(into, 0, into.length, pos);
      pos += bytesRead;
      return bytesRead;
    },
    async close() {
      if (closed) return;
      closed = true;
      const fh = await handle?.catch(() => undefined);
      await fh?.close();
    },
  };
}

/** A reader as a Readable of fresh READ_CHUNK buffers (for consumers that keep what they are given). */
export function readerStream(reader: ChunkReader): Readable {
  return new Readable({
    highWaterMark: READ_CHUNK,
    read() {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      reader.read(buf).then((n) => this.push(n === 0 ? null : buf.subarray(0, n)), (err: unknown) => this.destroy(err as Error));
    },
    destroy(err, cb) {
      reader.close().then(() => cb(err), (e: unknown) => cb((err ?? e) as Error));
    },
  });
}

/**
 * Feeds `reader` into `into` (gunzip) through two buffers used in turn: the next read runs while
 * `into` consumes the current one, and a buffer is read into again only after `into` called back
 * for it (zlib is done with its input then). Ends `into` at the reader's end. A failed read
 * destroys `into` with its error; `into` failing or closing early stops the feeding. Settles only
 * once no read is outstanding and the reader is closed.
 */
export async function pump(reader: ChunkReader, into: Writable): Promise<void> {
  const closed = new Promise<never>((_r, reject) => into.once('close', () => reject(into.errored ?? new Error('stream closed before the layer was fed'))));
  closed.catch(() => undefined);
  const bufs = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let k = 0;
  // Each read is awaited, but maybe only after `into` consumed the chunk before it: marked
  // handled at once, so a failed read meanwhile is not an unhandled rejection (which kills a worker).
  const start = (buf: Buffer) => {
    const p = reader.read(buf);
    p.catch(() => undefined);
    return p;
  };
  let next: Promise<number> = start(bufs[0]!);
  try {
    let n = await next;
    while (n > 0) {
      const cur = bufs[k]!.subarray(0, n);
      const consumed = new Promise<void>((res, rej) => into.write(cur, (err) => (err ? rej(err) : res())));
      consumed.catch(() => undefined); // `closed` may win the race below; then this one's error is not news
      k ^= 1;
      next = start(bufs[k]!);
      await Promise.race([consumed, closed]);
      n = await next;
    }
    into.end();
  } catch (err) {
    into.destroy(err as Error);
    throw err;
  } finally {
    await next.catch(() => undefined);
    await reader.close();
  }
}
