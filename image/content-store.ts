// Content-addressed blobs under `<root>/content/blobs/sha256/<hex>`. A write goes to an ingest
// file, is hashed and size-checked as it streams, and is renamed into place only when both match:
// a failed, interrupted or tampered download never leaves a visible blob. Each blob's disk usage
// is kept from its commit to its deletion, in the `content` sublevel when there is a db, so
// ImageFsInfo adds figures up instead of reading the directory (docs/images.md "Disk usage").
import type { Hash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, FailedPreconditionError, NotFoundError, randomBytes } from '../common/index.js';
import { entryUsage, type Usage } from './disk-usage.js';
import type { GrowingFile } from './growing-file.js';
import { jsonTable, type ImageDb, type JsonTable } from './json-table.js';
import { ingestDirOf } from './layout.js';
import { checkDigest } from './reference.js';

/** Blobs are read in 1 MiB chunks (the default 64 KiB costs a layer unpack many small steps). */
const READ_CHUNK = 1 << 20;
/** Downloads are written to their ingest file in batches of about this many bytes. */
const WRITE_BATCH = 1 << 20;

export interface BlobInfo {
  readonly digest: string;
  readonly size: number;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;
  /** The store's own directories (`content/` and those under it that hold blobs and ingest files). */
  readonly dirs: readonly string[];
  /** digest -> disk usage of its blob file: every committed blob, and only those. */
  readonly #usage = new Map<string, Usage>();
  readonly #db: JsonTable<Usage> | undefined;
  #changes = 0;

  private constructor(root: string, db: ImageDb | undefined) {
    this.#db = db ? jsonTable<Usage>(db, 'content') : undefined;
    this.blobsDir = path.join(root, 'content', 'blobs', 'sha256');
    this.ingestDir = ingestDirOf(root);
    this.dirs = [path.join(root, 'content'), path.dirname(this.blobsDir), this.blobsDir, this.ingestDir];
  }

  /**
   * Opens (creating) the store and drops ingest files left by an interrupted process. Blob usage
   * is read from `db` (kept in memory only without one); a blob without a figure (made before
   * usage was kept, or a crash between its rename and its record) is measured once, a figure
   * without a blob is dropped.
   */
  static async open(root: string, db?: ImageDb): Promise<ContentStore> {
    const s = new ContentStore(root, db);
    // Synchronous directory steps: microseconds each, where a trip through the daemon's busy
    // thread pool at start costs milliseconds (docs/cri.md "Start-up order"). The ingest dir
    // holds at most a few downloads cut short.
    mkdirSync(s.blobsDir, { recursive: true });
    rmSync(s.ingestDir, { recursive: true, force: true });
    mkdirSync(s.ingestDir, { recursive: true });
    const recorded = new Map<string, Usage>();
    if (s.#db) for await (const [digest, u] of s.#db.iterator()) recorded.set(digest, u);
    for (const digest of digestsOf(readdirSync(s.blobsDir))) {
      const u = recorded.get(digest);
      recorded.delete(digest);
      if (u) s.#usage.set(digest, u);
      else await s.#record(digest);
    }
    for (const digest of recorded.keys()) await s.#db?.del(digest);
    return s;
  }

  /** The blobs' disk usage, summed from the figures kept (no syscall). */
  usage(): Usage {
    let bytes = 0;
    let inodes = 0;
    for (const u of this.#usage.values()) {
      bytes += u.bytes;
      inodes += u.inodes;
    }
    return { bytes, inodes };
  }

  /** Bumped by every write that ended and every deletion (the store's directories may have changed size). */
  get changes(): number {
    return this.#changes;
  }

  /** Measures a blob in place and keeps the figure (in memory first: it is what is on disk). */
  async #record(digest: string): Promise<void> {
    const u = entryUsage(this.blobPath(digest));
    this.#usage.set(digest, u);
    await this.#db?.put(digest, u);
  }

  blobPath(digest: string): string {
    return path.join(this.blobsDir, checkDigest(digest).slice('sha256:'.length));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await fs.access(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  async info(digest: string): Promise<BlobInfo> {
    try {
      const st = await fs.stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      throw new NotFoundError(`content ${digest}: not found`, { cause: err });
    }
  }

  async readBytes(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(digest));
    } catch (err) {
      throw new NotFoundError(`content ${digest}: not found`, { cause: err });
    }
  }

  openRead(digest: string): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: READ_CHUNK });
  }

  /**
   * Streams `source` into the store. `expected.size` (when >= 0) and `expected.digest` must both
   * match, else FailedPreconditionError and nothing is left behind. `onBytes` sees each chunk size.
   * `follow` (when not attached yet) gets a read handle of the ingest file and hears how far it
   * is written, then that it is final (after the digest matched and the rename) or failed.
   */
  async write(source: Readable | AsyncIterable<Buffer>, expected: { digest: string; size?: number },
    onBytes?: (n: number) => void, follow?: GrowingFile): Promise<BlobInfo> {
    checkDigest(expected.digest, 'expected digest');
    const ingest = path.join(this.ingestDir, `${randomBytes(8).toString('hex')}-${expected.digest.slice(7, 19)}`);
    const hash = createHash('sha256');
    const limit = expected.size !== undefined && expected.size >= 0 ? expected.size : Infinity;
    let followed = false;
    let size = 0;
    try {
      const fh = await fs.open(ingest, 'wx', 0o644);
      try {
        if (follow) {
          const rh = await fs.open(ingest, 'r');
          followed = follow.attach(rh);
          if (!followed) await rh.close();
        }
        // One stream step per chunk: count, hash, batch (no Transform in between, docs/images.md).
        const sink = ingestWriter(fh, { digest: expected.digest, limit, hash, ...(onBytes ? { onBytes } : {}) }, followed ? (n) => follow!.grew(n) : undefined);
        await pipeline(source, sink);
        size = sink.size;
      } finally {
        await fh.close();
      }
      if (limit !== Infinity && size !== limit) {
        throw new FailedPreconditionError(`content ${expected.digest}: unexpected commit size ${size}, expected ${limit}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expected.digest) {
        throw new FailedPreconditionError(`content ${expected.digest}: unexpected commit digest ${actual}, expected ${expected.digest}`);
      }
      await fs.rename(ingest, this.blobPath(expected.digest));
      await this.#record(expected.digest);
      if (followed) follow!.finished(size);
      return { digest: expected.digest, size };
    } catch (err) {
      if (followed) follow!.failed(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      await fs.rm(ingest, { force: true });
      this.#changes++;
    }
  }

  async writeBytes(data: Buffer, digest: string): Promise<BlobInfo> {
    return this.write((async function* one() { yield data; })(), { digest, size: data.length });
  }

  async delete(digest: string): Promise<void> {
    try {
      await fs.rm(this.blobPath(digest), { force: true });
    } finally {
      this.#changes++;
    }
    this.#usage.delete(digest);
    await this.#db?.del(digest);
  }

  async list(): Promise<string[]> {
    return digestsOf(await fs.readdir(this.blobsDir));
  }
}

/** The digests of the blobs among a listing of the blobs dir. */
const digestsOf = (names: readonly string[]): string[] => names.filter((n) => BLOB_NAME.test(n)).map((n) => `sha256:${n}`);

interface IngestCheck {
  readonly digest: string;
  /** Most bytes the blob may have (Infinity: unknown). */
  readonly limit: number;
  readonly hash: Hash;
  readonly onBytes?: (n: number) => void;
}

type IngestWriter = Writable & { readonly size: number };

/**
 * Counts, hashes and writes what it is given to `fh`, in batches of about WRITE_BATCH bytes, one
 * writev each: a download arrives in network-sized chunks (16-64 KiB), and one write per chunk
 * costs the event loop several times more than the same bytes written in big batches. A byte
 * past `limit` fails the write before it is hashed or written.
 */
function ingestWriter(fh: fs.FileHandle, check: IngestCheck, landed?: (total: number) => void): IngestWriter {
  let batch: Buffer[] = [];
  let pending = 0;
  let written = 0;
  let size = 0;
  const flush = async () => {
    const bufs = batch;
    const total = pending;
    batch = [];
    pending = 0;
    let { bytesWritten } = await fh.writev(bufs);
    while (bytesWritten < total) bytesWritten += (await fh.write(Buffer.concat(bufs).subarray(bytesWritten))).bytesWritten;
    written += total;
    landed?.(written);
  };
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > check.limit) {
        cb(new FailedPreconditionError(`content ${check.digest}: more than the expected ${check.limit} bytes`));
        return;
      }
      check.hash.update(chunk);
      check.onBytes?.(chunk.length);
      batch.push(chunk);
      pending += chunk.length;
      if (pending < WRITE_BATCH) cb();
      else flush().then(() => cb(), cb);
    },
    final(cb) {
      if (pending === 0) cb();
      else flush().then(() => cb(), cb);
    },
  });
  return Object.defineProperty(w, 'size', { get: () => size }) as IngestWriter;
}

export function sha256Of(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
