// The first half of `berthctl import` (docs/images.md "Import and export"): an image archive (an
// OCI layout or a docker-archive, plain or gzip'd) streamed into a private staging directory.
// Entry names never become host paths: every regular file is written as `<dir>/<n>` and found by
// its archive name in a map, so a name can steer nothing on the host. Names that are absolute or
// hold `..` are refused anyway (such an archive is not one a tool made), symlinks and hard links
// become aliases that must stay inside the archive, anything else (devices, fifos) is refused,
// and the sum of entry sizes, the entry count and each JSON document read back are bounded.
import fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BerthError, InvalidArgumentError, isBerthError, NotFoundError } from '../common/index.js';
import { entryComponents } from './safe-resolve.js';

export interface ArchiveLimits {
  /** Sum of the (uncompressed) entry sizes. */
  readonly maxBytes: number;
  readonly maxEntries: number;
}

/** 64 GiB and 100 000 entries: far beyond a node image, far below what fills a disk by surprise. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 64 * 2 ** 30, maxEntries: 100_000 };

const MAX_LINK_HOPS = 16;

export class StagedArchive {
  /** archive name (normalized, no leading `./`) -> staged file and its size. */
  readonly #files = new Map<string, { file: string; size: number }>();
  /** archive name -> archive name it stands for (symlinks and hard links). */
  readonly #links = new Map<string, string>();

  constructor(readonly dir: string) {}

  addFile(name: string, file: string, size: number): void {
    this.#files.set(name, { file, size });
    this.#links.delete(name);
  }

  addLink(name: string, target: string): void {
    this.#links.set(name, target);
    this.#files.delete(name);
  }

  /** The staged file an archive name (after links) stands for, or undefined. */
  find(name: string): { file: string; size: number } | undefined {
    let n = normalizeName(name, 'archive member');
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const f = this.#files.get(n);
      if (f) return f;
      const next = this.#links.get(n);
      if (next === undefined) return undefined;
      n = next;
    }
    throw new InvalidArgumentError(`image archive: ${JSON.stringify(name)} is a loop of links`);
  }

  get(name: string, what: string): { file: string; size: number } {
    const f = this.find(name);
    if (!f) throw new NotFoundError(`image archive: ${what} ${JSON.stringify(name)} is not in the archive`);
    return f;
  }

  open(name: string, what: string): Readable {
    return createReadStream(this.get(name, what).file, { highWaterMark: 1 << 20 });
  }

  /** The bytes of a small member (a JSON document), refused when larger than `max`. */
  async read(name: string, what: string, max: number): Promise<Buffer> {
    const f = this.get(name, what);
    if (f.size > max) throw new InvalidArgumentError(`image archive: ${what} ${JSON.stringify(name)} is ${f.size} bytes, more than ${max}`);
    return fs.readFile(f.file);
  }

  remove(): Promise<void> {
    return fs.rm(this.dir, { recursive: true, force: true });
  }
}

function normalizeName(name: string, what: string): string {
  return entryComponents(name, what).join('/');
}

/** A link target as an archive name: relative targets from the link's directory, never above the archive. */
function linkTarget(name: string, h: tar.Header): string {
  const target = h.linkname ?? '';
  if (h.type === 'link') return normalizeName(target, `image archive: hard link ${JSON.stringify(name)}`);
  if (target.startsWith('/')) throw new InvalidArgumentError(`image archive: symlink ${JSON.stringify(name)} points outside the archive (${target})`);
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
  if (joined === '..' || joined.startsWith('../')) {
    throw new InvalidArgumentError(`image archive: symlink ${JSON.stringify(name)} points outside the archive (${target})`);
  }
  return normalizeName(joined, `image archive: symlink ${JSON.stringify(name)}`);
}

/** `source`, gunzipped when it starts with gzip's magic bytes. */
async function* decompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length < 2) {
    const more = await it.next();
    if (more.done) break;
    first = { done: false, value: Buffer.concat([first.value, more.value]) };
  }
  if (first.done) return;
  const rest = (async function* again() {
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  if (first.value[0] !== 0x1f || first.value[1] !== 0x8b) {
    yield* rest;
    return;
  }
  const gunzip = createGunzip();
  const fed = pipeline(rest, gunzip).catch((err: unknown) => {
    gunzip.destroy(err as Error);
  });
  for await (const chunk of gunzip) yield chunk as Buffer;
  await fed;
}

/**
 * Streams the tar `source` into `dir` (created; the caller removes it with `remove()`, also when
 * this throws). InvalidArgumentError for a name or link that would leave the archive, a member
 * type an image archive does not hold or a tar that does not parse; 'resource-exhausted' past
 * `limits`.
 */
export async function stageArchive(source: AsyncIterable<Buffer>, dir: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<StagedArchive> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const staged = new StagedArchive(dir);
  const extract = tar.extract();
  let total = 0;
  let count = 0;
  const walk = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const what = `image archive: member ${JSON.stringify(h.name)}`;
      if (++count > limits.maxEntries) throw new BerthError('resource-exhausted', `image archive: more than ${limits.maxEntries} members`);
      const name = normalizeName(h.name, what);
      if (h.type === 'directory') {
        entry.resume();
        continue;
      }
      if (h.type === 'symlink' || h.type === 'link') {
        staged.addLink(name, linkTarget(name, h));
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') throw new InvalidArgumentError(`${what}: a ${h.type ?? 'unknown'} has no place in an image archive`);
      if (name === '') throw new InvalidArgumentError(`${what}: a file without a name`);
      total += h.size ?? 0;
      if (total > limits.maxBytes) throw new BerthError('resource-exhausted', `image archive: more than ${limits.maxBytes} bytes`);
      const file = path.join(dir, String(count));
      await pipeline(entry, await fileSink(file));
      staged.addFile(name, file, h.size ?? 0);
    }
  })();
  walk.catch((err: unknown) => extract.destroy(err as Error));
  const [piped, walked] = await Promise.allSettled([pipeline(Readable.from(decompressed(source)), extract), walk]);
  const failed = [walked, piped].find((r) => r.status === 'rejected' && isBerthError(r.reason))
    ?? [piped, walked].find((r) => r.status === 'rejected');
  if (failed?.status === 'rejected') {
    const err = failed.reason as Error;
    throw isBerthError(err) ? err : new InvalidArgumentError(`image archive: not a readable tar: ${err.message}`, { cause: err });
  }
  return staged;
}

async function fileSink(file: string): Promise<Writable> {
  const fh = await fs.open(file, 'wx', 0o600);
  return fh.createWriteStream();
}
