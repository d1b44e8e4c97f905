// The image library behind the CRI ImageService: pull, status, list, remove (+ GC), fs usage,
// and container rootfs snapshots. One instance owns `<root>` (content/, snapshots/) and the
// `images`/`snapshots`/`content` sublevels of the level db it is handed.
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { KeyedMutex, NotFoundError, randomBytes, settleAll, silentLogger, validateIdentifier, type Logger } from '../common/index.js';
import { mallocTrim, type Mount } from '../sys/index.js';
import { fullGc } from './full-gc.js';
import { exportArchive } from './archive-export.js';
import { importImages, type ImportOptions } from './archive-import.js';
import { DEFAULT_ARCHIVE_LIMITS, stageArchive, type ArchiveLimits } from './archive-stage.js';
import type { Credentials } from './auth.js';
import { ContentStore } from './content-store.js';
import { addUsage, entryUsage, NO_USAGE, type Measured, type Usage } from './disk-usage.js';
import { ImageStore, type ImageFilter, type ImageRecord } from './image-store.js';
import type { ImageDb } from './json-table.js';
import { Leases, pullImage, type PullOptions } from './pull.js';
import { Snapshotter } from './snapshots.js';
import { Unpacker, defaultUnpackWorkerScript } from './unpacker.js';

export interface ImageServiceOptions {
  /** State root, e.g. /var/lib/berth. */
  root: string;
  db: ImageDb;
  /** containerd `config_path`: `:`-separated roots of `<host>/hosts.toml` dirs. */
  configPath?: string;
  credentialsFor?: (registry: string) => Credentials | undefined;
  /** A pull fails with DeadlineExceeded when a request sees no bytes for this long (default 60 s). */
  idleTimeoutMs?: number;
  /** Layer downloads in parallel per pull (default 3, containerd's max_concurrent_downloads). */
  maxConcurrentDownloads?: number;
  /**
   * Worker thread script that unpacks layers (image/unpack-worker.ts built); default: the one
   * built beside this code (dist/image/ or the daemon bundle), else none. false: unpack on the
   * main thread.
   */
  unpackWorker?: string | false;
  /** Images with fewer layer bytes than this unpack on the main thread (default 16 MiB; 0: always the worker). */
  unpackWorkerMinBytes?: number;
  /**
   * Gives freed memory back to the kernel once pulls are over (RELEASE_AFTER_MS after the last
   * one ends, and when the unpack worker stops); default: a full GC (image/full-gc.ts), then
   * glibc's malloc_trim, false: never. A throw is logged.
   */
  releaseMemory?: (() => void) | false;
  log?: Logger;
}

/** How long after the last pull in flight ends its freed memory is handed back. */
export const RELEASE_AFTER_MS = 1_000;

/**
 * A pull's downloads and unpacks go through tens of MB of Buffers, malloc'd and freed; glibc keeps
 * the freed memory in its arenas, in the daemon's PSS. Four 52 MB pulls left the daemon at
 * 127.6 MiB a second after (49.5 before) and 75.0 MiB once the unpack worker had stopped; with
 * the trim, 87.6 and 42.3 MiB (one call, 0.2-9 ms). Without glibc (koffi or the symbol missing)
 * it turns itself off. One function serves both moments (after pulls, the worker stopped); a
 * caller's own `releaseMemory` that throws is logged.
 */
function releaseMemoryFor(o: ImageServiceOptions, log: Logger): (() => void) | undefined {
  if (o.releaseMemory === false) return undefined;
  const given = o.releaseMemory;
  let trimOff = false;
  return () => {
    try {
      if (given) given();
      else if (!trimOff) {
        fullGc(); // frees the dead buffers first: the trim can only give back what is free
        mallocTrim();
      }
    } catch (err) {
      if (given) {
        log.warn({ err }, 'releasing memory after pulls');
      } else {
        trimOff = true;
        log.debug({ err }, 'malloc_trim unavailable: freed memory stays with the allocator');
      }
    }
  };
}

export interface FsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  /** ms since the epoch: when the oldest figure in the sum was taken. */
  timestamp: number;
  /** The containers' rw snapshots alone (part of the above): ImageFsInfo's container_filesystems. */
  containers: { usedBytes: number; inodesUsed: number };
}

/**
 * A container's rw snapshot is measured again for ContainerStats when its last figure is older
 * than this: stats callers that come together (kubelet's summary, eviction manager, metrics
 * scrapes) share one walk of the upper dir, and no figure is older than this when read.
 */
export const ROOTFS_USAGE_MAX_AGE_MS = 2_000;

/**
 * ImageFsInfo never waits for a walk: it sums the figures kept and, when a container's figure
 * is older than this (containerd's CRI refreshes its snapshot usage every 10 s), starts one
 * refresh behind its answer, so the next call sees fresher figures.
 */
export const FS_USAGE_REFRESH_MS = 10_000;

/**
 * Between two rw-layer walks of that refresh: it is in no hurry (its figures are up to 10 s old
 * anyway), and calls served meanwhile should meet one walk at most (200 layers: ~1 s).
 */
export const FS_USAGE_REFRESH_SPACING_MS = 5;

const ROOTFS_PREFIX = 'rootfs/';
const IMAGE_VOLUME_PREFIX = 'imagevol/';

export class ImageService {
  readonly #o: Required<Pick<ImageServiceOptions, 'root' | 'idleTimeoutMs' | 'maxConcurrentDownloads'>> & ImageServiceOptions;
  readonly #leases = new Leases();
  readonly #downloads = new KeyedMutex();
  // 'gc' serializes collection with image removal and rootfs creation (pulls are guarded by
  // leases and per-item locks instead, see gc()).
  readonly #lock = new KeyedMutex();
  readonly #release: (() => void) | undefined;
  #pulling = 0;
  #releaseTimer: NodeJS.Timeout | undefined;
  /** Usage of the store's own directories, measured again when a blob or snapshot came or went. */
  #dirs: { usage: Usage; changes: number } | undefined;
  #refreshing: Promise<void> | undefined;
  /** Removal of staging dirs an earlier process left, done before this process's first import. */
  #staleImports: Promise<void> | undefined;

  private constructor(o: ImageServiceOptions, readonly content: ContentStore, readonly snapshots: Snapshotter, readonly images: ImageStore,
    readonly unpacker: Unpacker, release: (() => void) | undefined) {
    this.#o = { idleTimeoutMs: 60_000, maxConcurrentDownloads: 3, ...o };
    this.#release = release;
  }

  static async open(o: ImageServiceOptions): Promise<ImageService> {
    const log = o.log ?? silentLogger;
    mkdirSync(o.root, { recursive: true }); // synchronous: see ContentStore.open
    const script = o.unpackWorker === false ? undefined : o.unpackWorker ?? defaultUnpackWorkerScript();
    const release = releaseMemoryFor(o, log);
    const unpacker = new Unpacker({ script, log, ...(release ? { onStopped: release } : {}) });
    // Side by side: each keeps its own sublevel and directory, and every step of each is a trip
    // through the thread pool, which a daemon's start keeps busy (docs/cri.md "Start-up order").
    const [content, snapshots, images] = await settleAll([ContentStore.open(o.root, o.db), Snapshotter.open(o.root, o.db, log, unpacker), ImageStore.open(o.db)]);
    return new ImageService({ ...o, log }, content, snapshots, images, unpacker, release);
  }

  get root(): string {
    return this.#o.root;
  }

  /**
   * Pulls `ref` (tag or digest) and returns its record; the CRI image_ref is `record.id`. A failed
   * pull collects what it fetched and nothing else references (containerd's pull lease).
   */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    this.#pulling++;
    clearTimeout(this.#releaseTimer);
    try {
      return await this.#pull(ref, opts);
    } catch (err) {
      await this.gc().catch((e: unknown) => this.#o.log?.warn({ err: e, ref }, 'gc after a failed pull'));
      throw err;
    } finally {
      if (--this.#pulling === 0 && this.#release) {
        this.#releaseTimer = setTimeout(this.#release, RELEASE_AFTER_MS);
        this.#releaseTimer.unref();
      }
    }
  }

  #pull(ref: string, opts: PullOptions): Promise<ImageRecord> {
    return pullImage({
      content: this.content, snapshots: this.snapshots, images: this.images, configPath: this.#o.configPath,
      credentialsFor: this.#o.credentialsFor, idleTimeoutMs: this.#o.idleTimeoutMs,
      maxConcurrentDownloads: this.#o.maxConcurrentDownloads, leases: this.#leases, downloads: this.#downloads, log: this.#o.log ?? silentLogger,
      unpacker: this.unpacker, workerMinBytes: this.#o.unpackWorkerMinBytes,
    }, ref, opts);
  }

  /**
   * `berthctl import`: the images of an OCI layout or docker-archive tar (docs/images.md "Import
   * and export"), staged under `<root>/import/` first (removed after, and at the first import
   * after a start), then stored and unpacked as a pull would. A refused or broken archive leaves
   * nothing: what it stored is collected as after a failed pull.
   */
  async importArchive(source: AsyncIterable<Buffer>, opts: ImportOptions & { limits?: ArchiveLimits } = {}): Promise<ImageRecord[]> {
    const stagingRoot = path.join(this.#o.root, 'import');
    this.#staleImports ??= fs.rm(stagingRoot, { recursive: true, force: true });
    await this.#staleImports;
    const dir = path.join(stagingRoot, randomBytes(8).toString('hex'));
    const staged = await stageArchive(source, dir, opts.limits ?? DEFAULT_ARCHIVE_LIMITS).catch(async (err: unknown) => {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    });
    try {
      return await importImages({
        content: this.content, snapshots: this.snapshots, images: this.images, leases: this.#leases, downloads: this.#downloads,
        unpacker: this.unpacker, workerMinBytes: this.#o.unpackWorkerMinBytes, log: this.#o.log ?? silentLogger,
      }, staged, opts);
    } catch (err) {
      await this.gc().catch((e: unknown) => this.#o.log?.warn({ err: e }, 'gc after a failed import'));
      throw err;
    } finally {
      await staged.remove();
    }
  }

  /** `berthctl export`: the image a ref or id names as an OCI layout tar written to `sink`. */
  async exportImage(refOrId: string, sink: Writable): Promise<ImageRecord> {
    const rec = this.images.get(refOrId);
    this.#leases.add(rec.blobs);
    try {
      await exportArchive(this.content, rec, sink);
      return rec;
    } finally {
      this.#leases.release(rec.blobs);
    }
  }

  /** ImageStatus: the record for an id or ref, or undefined (CRI answers an empty response). */
  status(refOrId: string): ImageRecord | undefined {
    return this.images.find(refOrId);
  }

  list(filter?: ImageFilter): ImageRecord[] {
    return this.images.list(filter);
  }

  /**
   * RemoveImage: drops the image an id, tag or digest names, with every name it has (containerd's
   * CRI does the same), then collects what nothing references. Unknown images are not an error.
   */
  async remove(refOrId: string): Promise<void> {
    await this.#lock.run('gc', async () => {
      const rec = this.images.find(refOrId);
      if (rec) await this.images.delete(rec.id);
    });
    await this.gc();
  }

  /**
   * Deletes blobs and committed snapshots no image, container rootfs or pull in flight uses.
   * Pulls run beside it, so "in use" is asked afresh right before each deletion, under the same
   * per-digest / per-snapshot lock a pull takes to decide it already has the item: a pull either
   * leases the item first (and it stays) or finds it gone and fetches or unpacks it again. A pull
   * keeps its leases until its record is visible, so no moment exists where an item it needs is
   * neither leased nor referenced.
   */
  gc(): Promise<{ blobs: number; snapshots: number }> {
    return this.#lock.run('gc', async () => {
      let blobs = 0;
      for (const d of await this.content.list()) {
        await this.#downloads.run(d, async () => {
          if (this.#inUse(d)) return;
          await this.content.delete(d);
          blobs++;
        });
      }
      // Children before parents: remove in descending id order (a child is always newer).
      const candidates = this.snapshots.list().filter((s) => !this.#inUse(s.key)).sort((a, b) => b.id - a.id);
      let snapshots = 0;
      for (const s of candidates) {
        if (await this.snapshots.remove(s.key, () => this.#inUse(s.key))) snapshots++;
      }
      return { blobs, snapshots };
    });
  }

  /** A blob digest or snapshot key some image, active snapshot (with its chain) or pull needs. */
  #inUse(name: string): boolean {
    if (this.#leases.has(name)) return true;
    for (const img of this.images.list()) {
      if (img.blobs.includes(name) || img.chainIds.includes(name)) return true;
    }
    for (const s of this.snapshots.list()) {
      if (s.kind === 'committed') continue;
      for (let k = s.key; k !== ''; k = this.snapshots.get(k)?.parent ?? '') {
        if (k === name) return true;
      }
    }
    return false;
  }

  /**
   * ImageFsInfo: bytes and inodes of the snapshot and content trees (`du` of both, with blobs
   * downloading and layers unpacking left out), added up from the figures kept per blob and per
   * snapshot; the only syscalls are an lstat of the store's five directories after a change. The
   * figures of containers' rw snapshots are their last measurements (see FS_USAGE_REFRESH_MS).
   */
  async fsUsage(): Promise<FsUsage> {
    const now = Date.now();
    const changes = this.content.changes + this.snapshots.changes;
    if (this.#dirs?.changes !== changes) {
      this.#dirs = { usage: [this.snapshots.dir, ...this.content.dirs].map(entryUsage).reduce(addUsage, NO_USAGE), changes };
    }
    const snaps = this.snapshots.totalUsage();
    if (snaps.unmeasured > 0 || (snaps.oldestAt !== undefined && now - snaps.oldestAt > FS_USAGE_REFRESH_MS)) this.#refreshRootfsUsage();
    const u = addUsage(addUsage(this.#dirs.usage, this.content.usage()), snaps.usage);
    return {
      mountpoint: this.snapshots.dir, usedBytes: u.bytes, inodesUsed: u.inodes, timestamp: Math.min(now, snaps.oldestAt ?? now),
      containers: { usedBytes: snaps.active.bytes, inodesUsed: snaps.active.inodes },
    };
  }

  /** Measures the rw snapshots whose figures are stale, once at a time, behind the caller. */
  #refreshRootfsUsage(): void {
    this.#refreshing ??= this.snapshots.refreshActive(FS_USAGE_REFRESH_MS, FS_USAGE_REFRESH_SPACING_MS)
      .catch((err: unknown) => this.#o.log?.warn({ err }, 'measuring container snapshots'))
      .finally(() => {
        this.#refreshing = undefined;
      });
  }

  /**
   * ContainerStats' writable layer: the disk usage of a container's rw snapshot (upper and work
   * dirs), measured at most `maxAgeMs` ago; undefined when the container has none.
   */
  rootfsUsage(containerId: string, maxAgeMs = ROOTFS_USAGE_MAX_AGE_MS): Promise<Measured | undefined> {
    return this.snapshots.usage(ROOTFS_PREFIX + containerId, maxAgeMs);
  }

  /** Creates the rw snapshot for a container over the image's layers; returns its overlay mounts. */
  async prepareRootfs(containerId: string, imageRefOrId: string): Promise<Mount[]> {
    validateIdentifier(containerId, 'container id');
    return this.#lock.run('gc', async () => {
      const img = this.images.get(imageRefOrId);
      const top = img.chainIds[img.chainIds.length - 1];
      if (!top) throw new NotFoundError(`image ${img.id} has no layers`);
      return this.snapshots.prepare(ROOTFS_PREFIX + containerId, top);
    });
  }

  /**
   * An image volume (CRI Mount.image): a read-only view `imagevol/<owner>/<image id>` of the
   * image's layers, kept from GC until removeImageVolume, even when the image itself is removed
   * meanwhile (containerd's sandbox lease does the same). Returns the layer dirs, nearest first.
   */
  async prepareImageVolume(owner: string, imageRefOrId: string): Promise<{ image: ImageRecord; lowers: string[] }> {
    validateIdentifier(owner, 'image volume owner');
    return this.#lock.run('gc', async () => {
      const image = this.images.get(imageRefOrId);
      const top = image.chainIds[image.chainIds.length - 1];
      if (!top) throw new NotFoundError(`image ${image.id} has no layers`);
      return { image, lowers: await this.snapshots.view(`${IMAGE_VOLUME_PREFIX}${owner}/${image.id}`, top) };
    });
  }

  /** The image volumes of `owner` (image ids), or of every owner when none is given. */
  imageVolumes(owner?: string): Array<{ owner: string; imageId: string }> {
    const out: Array<{ owner: string; imageId: string }> = [];
    for (const s of this.snapshots.list()) {
      if (s.kind !== 'view' || !s.key.startsWith(IMAGE_VOLUME_PREFIX)) continue;
      const rest = s.key.slice(IMAGE_VOLUME_PREFIX.length);
      const slash = rest.indexOf('/');
      const o = rest.slice(0, slash);
      if (owner === undefined || o === owner) out.push({ owner: o, imageId: rest.slice(slash + 1) });
    }
    return out;
  }

  /** Drops an image volume's view (its layers become collectable). Unknown ones are not an error. */
  async removeImageVolume(owner: string, imageId: string): Promise<void> {
    const key = `${IMAGE_VOLUME_PREFIX}${owner}/${imageId}`;
    if (this.snapshots.get(key)) await this.snapshots.remove(key);
  }

  /** The mounts of an existing container rootfs (after a restart, for instance). */
  rootfsMounts(containerId: string): Mount[] {
    return this.snapshots.mounts(ROOTFS_PREFIX + containerId);
  }

  /** The ids of every container rootfs (rw snapshot) there is. */
  rootfsIds(): string[] {
    return this.snapshots.list().filter((r) => r.key.startsWith(ROOTFS_PREFIX)).map((r) => r.key.slice(ROOTFS_PREFIX.length));
  }

  /**
   * Removes a container's rw snapshot (unmount it first). Unknown ids are not an error. Its
   * record is gone when this resolves, its directory soon after (Snapshotter.remove `dirLater`).
   */
  async removeRootfs(containerId: string): Promise<void> {
    const key = ROOTFS_PREFIX + containerId;
    if (!this.snapshots.get(key)) return;
    await this.snapshots.remove(key, undefined, { dirLater: true });
  }
}
