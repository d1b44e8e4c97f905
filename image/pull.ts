// PullImage: resolve the ref on its hosts, fetch index -> manifest (linux/amd64), then config and
// layers (3 at a time, config first, verified into the content store) while unpacking each layer
// into its snapshot as soon as it and the layers below it are in, and record the image. Blobs and
// snapshots in flight are leased so a concurrent GC keeps them.
import { createHash, FailedPreconditionError, faultPoint, InvalidArgumentError, type KeyedMutex, type Logger } from '../common/index.js';
import type { Credentials } from './auth.js';
import type { ContentStore } from './content-store.js';
import { GrowingFile } from './growing-file.js';
import { resolveHosts } from './hosts.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import {
  MAX_CONFIG_SIZE, isIndexType, layerCompression, parseImageConfig, parseManifestOrIndex, selectPlatform, type Descriptor, type ImageConfig,
} from './media-types.js';
import { formatReference, parseReference, repoName } from './reference.js';
import { RegistryClient } from './registry-client.js';
import type { LayerSource, Snapshotter } from './snapshots.js';
import { WORKER_MIN_BYTES, type Unpacker } from './unpacker.js';

export interface PullProgress {
  /** Layer (or config) digest. */
  digest: string;
  /** Bytes received so far for this blob. */
  bytes: number;
  total: number;
}

export interface PullOptions {
  credentials?: Credentials;
  onProgress?: (p: PullProgress) => void;
}

export interface PullDeps {
  content: ContentStore;
  snapshots: Snapshotter;
  images: ImageStore;
  configPath?: string;
  credentialsFor?: (registry: string) => Credentials | undefined;
  idleTimeoutMs: number;
  maxConcurrentDownloads: number;
  leases: Leases;
  /** Per-digest lock: two pulls needing one blob download it once. */
  downloads: KeyedMutex;
  /** Started ahead of the layers of a big image (the snapshotter applies through it). */
  unpacker?: Unpacker;
  /** Images with fewer layer bytes unpack on the main thread (default WORKER_MIN_BYTES). */
  workerMinBytes?: number;
  log: Logger;
}

/** Reference-counted names (blob digests, chainIDs) that GC must not collect. */
export class Leases {
  readonly #counts = new Map<string, number>();
  add(names: Iterable<string>): void {
    for (const n of names) this.#counts.set(n, (this.#counts.get(n) ?? 0) + 1);
  }
  release(names: Iterable<string>): void {
    for (const n of names) {
      const c = (this.#counts.get(n) ?? 0) - 1;
      if (c <= 0) this.#counts.delete(n);
      else this.#counts.set(n, c);
    }
  }
  has(name: string): boolean {
    return this.#counts.has(name);
  }
}

export function chainIdsOf(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

/** Runs at most `limit` of the functions handed to it at once, in the order they were handed. */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * Downloads `layers` (at most `limit` at once, in order) and unpacks each with `unpack` as soon
 * as it and every layer below it are in, so unpacking overlaps the downloads still running. With
 * `ready`, a layer's unpack may start once ready(i) resolves (its download can be followed) and
 * every layer below is unpacked; `unpack` gets the download's promise, and the next layer waits
 * for that download too. The first failure stops the downloads not yet started; it is thrown once
 * every download started has settled (so no download is left running behind a failed pull).
 */
export async function downloadAndUnpack<T>(layers: readonly T[], limit: number, download: (l: T) => Promise<void>,
  unpack: (l: T, i: number, downloaded: Promise<void>) => Promise<void>, ready?: (l: T, i: number) => Promise<void> | undefined): Promise<void> {
  const run = limiter(Math.max(1, limit));
  let stopped = false;
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_r, reject) => { fail = reject; });
  failed.catch(() => undefined);
  const downloads = layers.map((l) => run(async () => {
    if (stopped) return;
    try {
      await download(l);
    } catch (err) {
      stopped = true; // before the slot is handed on: the next waiting download must see it
      throw err;
    }
  }).catch((err: unknown) => {
    fail(err);
    throw err;
  }));
  for (const d of downloads) d.catch(() => undefined);
  try {
    for (let i = 0; i < layers.length; i++) {
      const r = ready?.(layers[i]!, i);
      await Promise.race(r ? [downloads[i]!, r, failed] : [downloads[i]!, failed]);
      await unpack(layers[i]!, i, downloads[i]!);
      await Promise.race([downloads[i]!, failed]);
    }
  } catch (err) {
    stopped = true;
    await Promise.allSettled(downloads);
    throw err;
  }
}

export async function pullImage(deps: PullDeps, refText: string, opts: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(refText);
  const log = deps.log.child({ ref: formatReference(ref) });
  const hosts = await resolveHosts(ref.domain, deps.configPath);
  const client = new RegistryClient({
    hosts, repoPath: ref.path, credentials: opts.credentials ?? deps.credentialsFor?.(ref.domain),
    idleMs: deps.idleTimeoutMs, log,
  });
  const leased: string[] = [];
  let feeds: GrowingFile[] = [];
  const lease = (...names: string[]) => {
    deps.leases.add(names);
    leased.push(...names);
  };
  // Under the blob's download lock, like GC's deletion: a blob seen here is not being deleted.
  const storeManifest = (digest: string, body: Buffer) => deps.downloads.run(digest, async () => {
    if (!(await deps.content.has(digest))) await deps.content.writeBytes(body, digest);
  });
  try {
    const top = await client.fetchManifest(ref.digest ?? ref.tag!);
    lease(top.digest);
    await storeManifest(top.digest, top.body);
    const topDoc = parseManifestOrIndex(top.body, top.mediaType, `manifest ${formatReference(ref)}`);
    let size = top.body.length;
    let manifestDigest = top.digest;
    let manifest;
    if (topDoc.kind === 'index') {
      const desc = selectPlatform(topDoc.index, `index ${formatReference(ref)}`);
      const m = await client.fetchManifest(desc.digest);
      if (m.body.length !== desc.size) throw new FailedPreconditionError(`manifest ${desc.digest}: size ${m.body.length}, index says ${desc.size}`);
      lease(m.digest);
      await storeManifest(m.digest, m.body);
      const doc = parseManifestOrIndex(m.body, desc.mediaType, `manifest ${desc.digest}`);
      if (doc.kind !== 'manifest') throw new InvalidArgumentError(`manifest ${desc.digest}: nested indexes are not supported`);
      manifest = doc.manifest;
      manifestDigest = m.digest;
      size += m.body.length;
    } else {
      if (isIndexType(top.mediaType)) throw new InvalidArgumentError(`manifest ${top.digest}: media type says index, body is a manifest`);
      manifest = topDoc.manifest;
    }
    if (manifest.config.size > MAX_CONFIG_SIZE) {
      throw new FailedPreconditionError(
        `image ${formatReference(ref)}: config ${manifest.config.digest} is ${manifest.config.size} bytes, more than ${MAX_CONFIG_SIZE}`,
      );
    }
    // A big image's layers unpack on the worker, started now while the config downloads.
    const inline = manifest.layers.reduce((a, l) => a + l.size, 0) < (deps.workerMinBytes ?? WORKER_MIN_BYTES);
    if (!inline) deps.unpacker?.warm();
    // The first download attempt of each layer can be followed by its unpack (growing-file.ts).
    feeds = manifest.layers.map(() => new GrowingFile());
    const feedOf = new Map<Descriptor, GrowingFile>(manifest.layers.map((l, i) => [l, feeds[i]!]));
    const fetchBlob = async (d: Descriptor) => {
      lease(d.digest);
      await deps.downloads.run(d.digest, async () => {
        if (await deps.content.has(d.digest)) {
          opts.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size });
          return;
        }
        await client.fetchBlob(d.digest, d.mediaType, async (res) => {
          let bytes = 0;
          await deps.content.write(res.body, { digest: d.digest, size: d.size }, (n) => {
            bytes += n;
            opts.onProgress?.({ digest: d.digest, bytes, total: d.size });
          }, feedOf.get(d));
        });
        faultPoint('pull:blob-stored');
      });
    };
    // The config is fetched with the layers, first in line, and "unpacked" first: parsed and
    // checked against the layers before any layer is unpacked.
    let config!: ImageConfig;
    let diffIds: readonly string[] = [];
    let chainIds: string[] = [];
    const compressions = manifest.layers.map((l) => layerCompression(l.mediaType));
    await downloadAndUnpack([manifest.config, ...manifest.layers], deps.maxConcurrentDownloads, fetchBlob, async (blob, j, downloaded) => {
      if (j === 0) {
        config = parseImageConfig(await deps.content.readBytes(blob.digest), `config ${blob.digest}`);
        diffIds = config.rootfs.diff_ids;
        if (diffIds.length !== manifest.layers.length) {
          throw new FailedPreconditionError(`image ${formatReference(ref)}: ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
        }
        chainIds = chainIdsOf(diffIds);
        lease(...chainIds);
        return;
      }
      const i = j - 1;
      const commit = (src: LayerSource) => deps.snapshots.commitLayer(chainIds[i]!, i === 0 ? '' : chainIds[i - 1]!, diffIds[i]!,
        src, compressions[i]!).then((r) => (faultPoint('pull:layer-unpacked'), r));
      const feed = feeds[i]!;
      const stored = { file: deps.content.blobPath(blob.digest), inline };
      if (feed.fd === undefined) {
        await downloaded;
        await commit(stored);
        return;
      }
      try {
        await commit({ growing: feed, inline });
      } catch (err) {
        // The followed attempt failed (another host may still deliver the blob): the download
        // decides; once it is in, unpack the stored blob.
        if (!feed.error) throw err;
        await downloaded;
        await commit(stored);
      }
    }, (blob, j) => (j === 0 ? undefined : feeds[j - 1]!.attached));
    size += manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
    const blobs = [...new Set([top.digest, manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])];
    const rec = await deps.images.upsert({
      id: manifest.config.digest,
      repoTags: ref.tag !== undefined ? [formatReference(ref)] : [],
      repoDigests: [`${repoName(ref)}@${top.digest}`],
      target: { digest: top.digest, mediaType: top.mediaType, size: top.body.length },
      manifestDigest,
      config,
      size,
      chainIds,
      blobs,
      createdAt: new Date().toISOString(),
    });
    faultPoint('pull:image-recorded');
    log.info({ id: rec.id, size }, 'image pulled');
    return rec;
  } finally {
    deps.leases.release(leased);
    // No unpack or download runs any more (downloadAndUnpack settled them all).
    await Promise.all(feeds.map((f) => f.close().catch((err: unknown) => log.warn({ err }, 'closing a followed ingest file'))));
  }
}
