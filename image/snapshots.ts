// Overlay snapshots keyed like containerd's overlayfs snapshotter: committed layers under their
// chainID, container rootfs (active, rw) under the container id. On disk
// `<root>/snapshots/<n>/fs` (+ `work` for active ones), `<n>` a number; the key -> (n, parent)
// records live in level. A layer is unpacked into `tmp-*` and renamed into place only when it
// applied cleanly with the right diffID, so a failure leaves no half snapshot. Each committed
// record carries its disk usage, measured once at unpack; an active snapshot's usage changes
// while its container runs and is measured when asked for (docs/images.md "Disk usage").
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate, setTimeout } from 'node:timers/promises';
import { AlreadyExistsError, FailedPreconditionError, KeyedMutex, NotFoundError, randomBytes, type Logger } from '../common/index.js';
import { isErrno, mountAll, umount2, unmountAll, type Mount } from '../sys/index.js';
import { applyLayer } from './apply-layer.js';
import { addUsage, diskUsage, entryUsage, NO_USAGE, type Measured, type Usage } from './disk-usage.js';
import { jsonTable, type ImageDb, type JsonTable } from './json-table.js';
import type { Compression } from './media-types.js';
import { Unpacker, type UnpackSource } from './unpacker.js';

/**
 * A layer's bytes: a blob file or a download's growing ingest file (applied on the unpacker's
 * worker thread), or a stream.
 */
export type LayerSource = UnpackSource | { readonly open: () => Readable };

/** True when the kernel's overlay module has an `index` parameter (containerd then adds `index=off`). */
const overlayHasIndexParam = existsSync('/sys/module/overlay/parameters/index');

export interface SnapshotRecord {
  readonly key: string;
  readonly id: number;
  /** Parent key ('' for a base layer). */
  readonly parent: string;
  /** A view holds a committed chain for a read-only mount (an image volume); it has no dir of its own. */
  readonly kind: 'committed' | 'active' | 'view';
  readonly createdAt: string;
  /**
   * A committed snapshot's disk usage (`<n>` and all under it), measured when it was unpacked;
   * absent on active ones (their figure lives in memory) and on records older than this field.
   */
  readonly usage?: Usage;
}

/** The sum of the snapshots' usage as last measured. */
export interface SnapshotsUsage {
  readonly usage: Usage;
  /** When the oldest active snapshot's figure was taken (undefined: no active one is counted). */
  readonly oldestAt: number | undefined;
  /** Active snapshots not measured since the daemon started (their usage is not in the sum). */
  readonly unmeasured: number;
  /** The part of `usage` that is active (containers' rw) snapshots. */
  readonly active: Usage;
}

export class Snapshotter {
  readonly dir: string;
  readonly #db: JsonTable<SnapshotRecord>;
  readonly #byKey = new Map<string, SnapshotRecord>();
  readonly #locks = new KeyedMutex();
  /** Active snapshots' last figure, and the walks in flight (one per snapshot at a time). */
  readonly #live = new Map<string, Measured>();
  readonly #measuring = new Map<string, Promise<Measured>>();
  #seq = 0;
  #changes = 0;
  /** Directory removals still running after their remove() returned (`dirLater`). */
  readonly #removals = new Set<Promise<void>>();

  readonly #unpacker: Unpacker;

  private constructor(root: string, db: ImageDb, private readonly log: Logger, unpacker: Unpacker | undefined) {
    this.dir = path.join(root, 'snapshots');
    this.#db = jsonTable<SnapshotRecord>(db, 'snapshots');
    this.#unpacker = unpacker ?? new Unpacker({ log });
  }

  /** `unpacker` applies file-backed layers (default: on the calling thread). */
  static async open(root: string, db: ImageDb, log: Logger, unpacker?: Unpacker): Promise<Snapshotter> {
    const s = new Snapshotter(root, db, log, unpacker);
    mkdirSync(s.dir, { recursive: true }); // synchronous: see ContentStore.open
    for await (const [key, rec] of s.#db.iterator()) {
      s.#byKey.set(key, rec);
      s.#seq = Math.max(s.#seq, rec.id);
    }
    // Anything on disk without a record is a leftover of an interrupted unpack or removal.
    const known = new Set([...s.#byKey.values()].map((r) => String(r.id)));
    for (const name of readdirSync(s.dir)) {
      if (known.has(name)) continue;
      unmountAll(path.join(s.dir, name, 'merged'));
      await fs.rm(path.join(s.dir, name), { recursive: true, force: true });
    }
    // Records from before usage was kept are measured once, and kept measured.
    let measured = 0;
    for (const rec of [...s.#byKey.values()]) {
      if (rec.kind !== 'committed' || rec.usage) continue;
      await s.#put({ ...rec, usage: await diskUsage(s.#base(rec)) });
      measured++;
    }
    if (measured > 0) log.info({ snapshots: measured }, 'measured the disk usage of snapshots recorded without it');
    return s;
  }

  /** Bumped by every snapshot made or removed (the snapshots dir itself may have changed size). */
  get changes(): number {
    return this.#changes;
  }

  get(key: string): SnapshotRecord | undefined {
    return this.#byKey.get(key);
  }

  list(): SnapshotRecord[] {
    return [...this.#byKey.values()];
  }

  fsDir(rec: SnapshotRecord): string {
    return path.join(this.#base(rec), 'fs');
  }

  #base(rec: Pick<SnapshotRecord, 'id'>): string {
    return path.join(this.dir, String(rec.id));
  }

  /** fs dirs of `key` and its ancestors, nearest first (overlay lowerdir order). */
  chainDirs(key: string): string[] {
    const out: string[] = [];
    for (let k = key; k !== '';) {
      const rec = this.#byKey.get(k);
      if (!rec) throw new NotFoundError(`snapshot ${k}: not found`);
      out.push(this.fsDir(rec));
      k = rec.parent;
    }
    return out;
  }

  async #put(rec: SnapshotRecord): Promise<void> {
    await this.#db.put(rec.key, rec);
    this.#byKey.set(rec.key, rec);
  }

  /**
   * Unpacks a layer as committed snapshot `chainId` on top of `parent`; a no-op when it exists.
   * The uncompressed stream must hash to `diffId`.
   */
  commitLayer(chainId: string, parent: string, diffId: string, source: LayerSource, compression: Compression): Promise<SnapshotRecord> {
    // `upper` is measured right after the apply, on the thread that applied it.
    const apply = async (dir: string, upper: string): Promise<{ diffId: string; usage: Usage }> => {
      if ('open' in source) return { diffId: (await applyLayer(dir, source.open(), compression)).diffId, usage: await diskUsage(upper) };
      const r = await this.#unpacker.apply(dir, source, compression, upper);
      return { diffId: r.diffId, usage: r.usage ?? await diskUsage(upper) };
    };
    return this.#locks.run(chainId, async () => {
      const existing = this.#byKey.get(chainId);
      if (existing) return existing;
      const lowers = parent ? this.chainDirs(parent) : [];
      const id = ++this.#seq;
      const tmp = path.join(this.dir, `tmp-${id}-${randomBytes(4).toString('hex')}`);
      const upper = path.join(tmp, 'fs');
      await fs.mkdir(upper, { recursive: true });
      try {
        let result;
        if (lowers.length === 0) {
          result = await apply(upper, upper);
        } else {
          // Apply through an overlay of the lower layers so symlinks and directories of lower
          // layers resolve as in the container and deletions become overlay whiteouts in `fs`.
          const work = path.join(tmp, 'work');
          const merged = path.join(tmp, 'merged');
          await fs.mkdir(work);
          await fs.mkdir(merged);
          mountApplyOverlay(lowers, upper, work, merged);
          try {
            result = await apply(merged, upper);
          } finally {
            unmountApplyOverlay(merged);
          }
          await fs.rm(work, { recursive: true, force: true });
          await fs.rm(merged, { recursive: true, force: true });
        }
        if (result.diffId !== diffId) {
          throw new FailedPreconditionError(`layer ${chainId}: wrong diff id calculated on extraction: ${result.diffId}, expected ${diffId}`);
        }
        const final = path.join(this.dir, String(id));
        await fs.rename(tmp, final);
        const usage = addUsage(entryUsage(final), result.usage);
        const rec: SnapshotRecord = { key: chainId, id, parent, kind: 'committed', createdAt: new Date().toISOString(), usage };
        try {
          await this.#put(rec);
        } catch (err) {
          await fs.rm(final, { recursive: true, force: true });
          throw err;
        } finally {
          this.#changes++;
        }
        return rec;
      } catch (err) {
        await fs.rm(tmp, { recursive: true, force: true }).catch((e: unknown) => this.log.warn({ err: e, tmp }, 'removing failed unpack'));
        throw err;
      }
    });
  }

  /** Creates an active (rw) snapshot `key` over committed `parent` and returns its mounts. */
  prepare(key: string, parent: string): Promise<Mount[]> {
    return this.#locks.run(key, async () => {
      if (this.#byKey.has(key)) throw new AlreadyExistsError(`snapshot ${key}: already exists`);
      const lowers = this.chainDirs(parent);
      const id = ++this.#seq;
      const base = path.join(this.dir, String(id));
      await fs.mkdir(path.join(base, 'fs'), { recursive: true, mode: 0o755 });
      await fs.mkdir(path.join(base, 'work'), { mode: 0o700 });
      const rec: SnapshotRecord = { key, id, parent, kind: 'active', createdAt: new Date().toISOString() };
      const at = Date.now();
      const usage = await diskUsage(base); // three empty directories
      try {
        await this.#put(rec);
      } catch (err) {
        await fs.rm(base, { recursive: true, force: true });
        throw err;
      } finally {
        this.#changes++;
      }
      this.#live.set(key, { usage, at });
      return [overlayMount(lowers, path.join(base, 'fs'), path.join(base, 'work'))];
    });
  }

  /**
   * Records a read-only view `key` of committed `parent` (containerd's View) and returns the
   * chain's fs dirs, nearest first. The record keeps the chain from image GC; nothing is on disk.
   * An existing view of the same parent is returned as it is.
   */
  view(key: string, parent: string): Promise<string[]> {
    return this.#locks.run(key, async () => {
      const lowers = this.chainDirs(parent);
      const have = this.#byKey.get(key);
      if (have) {
        if (have.kind !== 'view' || have.parent !== parent) throw new AlreadyExistsError(`snapshot ${key}: already exists`);
        return lowers;
      }
      await this.#put({ key, id: ++this.#seq, parent, kind: 'view', createdAt: new Date().toISOString() });
      this.#changes++;
      return lowers;
    });
  }

  /** Mounts of an existing active snapshot. */
  mounts(key: string): Mount[] {
    const rec = this.#byKey.get(key);
    if (!rec || rec.kind !== 'active') throw new NotFoundError(`snapshot ${key}: not found`);
    const base = path.join(this.dir, String(rec.id));
    return [overlayMount(this.chainDirs(rec.parent), path.join(base, 'fs'), path.join(base, 'work'))];
  }

  /**
   * Removes snapshot `key` (record first, then its directory). Children must be gone first.
   * `keep`, asked under the snapshot's lock (the one commitLayer holds), can veto the removal:
   * then nothing happens and the result is false. With `dirLater` the directory goes after the
   * call returns (containerd's GC, too, removes a snapshot's directory after its record): a
   * container's rw layer is removed in ~0.1 ms instead of the 1.5-40 ms of a recursive rm through
   * the thread pool (docs/images.md "Removing a container's layer"). Ids are never reused, so
   * nothing can meet the old directory; one a stopped daemon left behind has no record, and
   * `open` removes it. `removals()` waits for those in flight.
   */
  remove(key: string, keep?: () => boolean, o: { dirLater?: boolean } = {}): Promise<boolean> {
    return this.#locks.run(key, async () => {
      const rec = this.#byKey.get(key);
      if (!rec) throw new NotFoundError(`snapshot ${key}: not found`);
      if (keep?.()) return false;
      for (const other of this.#byKey.values()) {
        if (other.parent === key) throw new FailedPreconditionError(`snapshot ${key}: has child ${other.key}`);
      }
      await this.#db.del(key);
      this.#byKey.delete(key);
      this.#live.delete(key);
      const dir = this.#base(rec);
      const removal = fs.rm(dir, { recursive: true, force: true }).finally(() => {
        this.#changes++;
      });
      if (!o.dirLater) {
        await removal;
        return true;
      }
      const tracked = removal.catch((err: unknown) => this.log.warn({ err, dir }, 'cannot remove a removed snapshot\'s directory (the next start retries)'))
        .finally(() => this.#removals.delete(tracked));
      this.#removals.add(tracked);
      return true;
    });
  }

  /** Resolves once every directory removal started by `remove(…, { dirLater })` so far is done. */
  async removals(): Promise<void> {
    await Promise.all([...this.#removals]);
  }

  /**
   * The usage of snapshot `key`: a committed one's recorded figure; an active one's last figure
   * when taken at most `maxAgeMs` ago, else measured now (callers asking meanwhile share that
   * walk). Undefined for an unknown key.
   */
  async usage(key: string, maxAgeMs: number): Promise<Measured | undefined> {
    const rec = this.#byKey.get(key);
    if (!rec) return undefined;
    if (rec.kind === 'committed') return { usage: rec.usage ?? NO_USAGE, at: Date.now() };
    const last = this.#live.get(key);
    if (last && Date.now() - last.at <= maxAgeMs) return last;
    return this.#measure(rec);
  }

  /** Sums every snapshot's figure as it stands: no walk, no syscall. */
  totalUsage(): SnapshotsUsage {
    let bytes = 0;
    let inodes = 0;
    let oldestAt: number | undefined;
    let unmeasured = 0;
    const active = { bytes: 0, inodes: 0 };
    for (const rec of this.#byKey.values()) {
      let u = rec.usage;
      if (rec.kind === 'active') {
        const m = this.#live.get(rec.key);
        if (!m) {
          unmeasured++;
          continue;
        }
        u = m.usage;
        if (oldestAt === undefined || m.at < oldestAt) oldestAt = m.at;
        active.bytes += u.bytes;
        active.inodes += u.inodes;
      }
      bytes += u?.bytes ?? 0;
      inodes += u?.inodes ?? 0;
    }
    return { usage: { bytes, inodes }, oldestAt, unmeasured, active };
  }

  /**
   * Measures every active snapshot whose figure is missing or older than `maxAgeMs`, one after
   * another, `spacingMs` apart (each in its own turn of the event loop at least): a container's
   * rw layer is a few entries, so its walk never yields by itself, and 60 of them back to back
   * in microtasks held the reply of the ImageFsInfo that started them (14 ms at the median under
   * kubelet's steady load with 60 pods, bench/ `steady`). Spaced, a background refresh of 200
   * layers costs any call in flight one walk at most, not one per turn its reply needs.
   */
  async refreshActive(maxAgeMs: number, spacingMs = 0): Promise<void> {
    for (const rec of [...this.#byKey.values()]) {
      if (rec.kind !== 'active') continue;
      const last = this.#live.get(rec.key);
      if (last && Date.now() - last.at <= maxAgeMs) continue;
      await (spacingMs > 0 ? setTimeout(spacingMs) : setImmediate());
      if (this.#byKey.get(rec.key) === rec) await this.#measure(rec);
    }
  }

  #measure(rec: SnapshotRecord): Promise<Measured> {
    let walk = this.#measuring.get(rec.key);
    if (!walk) {
      walk = (async () => {
        const at = Date.now();
        const m: Measured = { usage: await diskUsage(this.#base(rec)), at };
        // Removed (or removed and made again) during the walk: the figure is not that snapshot's.
        if (this.#byKey.get(rec.key)?.id === rec.id) this.#live.set(rec.key, m);
        return m;
      })().finally(() => this.#measuring.delete(rec.key));
      this.#measuring.set(rec.key, walk);
    }
    return walk;
  }
}

/** Whether the kernel's overlay takes `volatile` (5.10+); settled by the first apply mount. */
let applyVolatile: boolean | undefined;

/**
 * Mounts the temporary overlay a layer is applied through. It is `volatile` where the kernel
 * has that option: unmounting a normal overlay syncs the whole upper filesystem (every dirty
 * page on it, the blobs other downloads are writing included), which is most of an unpack's
 * time; the first layer, extracted without an overlay, never had that sync either. What keeps
 * a snapshot safe is unchanged: it is renamed into place and recorded only after it applied
 * with the right diffID, and leftovers without a record are removed on open.
 */
function mountApplyOverlay(lowers: readonly string[], upper: string, work: string, merged: string): void {
  const m = overlayMount(lowers, upper, work);
  if (applyVolatile !== false) {
    try {
      mountAll([{ ...m, options: [...m.options, 'volatile'] }], merged);
      applyVolatile = true;
      return;
    } catch (err) {
      if (applyVolatile === true || !isErrno(err, 'EINVAL')) throw err;
      applyVolatile = false;
    }
  }
  mountAll([m], merged);
}

/**
 * Unmounts the apply overlay: the one mount this module put at `merged`, so it is unmounted by
 * name; reading /proc/self/mountinfo to find it (unmountAll) cost two reads of every mount of the
 * host per layer (150 KB each with a few dozen pods). Anything unexpected falls back to unmountAll.
 */
function unmountApplyOverlay(merged: string): void {
  try {
    umount2(merged, 0);
  } catch {
    unmountAll(merged);
  }
}

export function overlayMount(lowers: readonly string[], upper: string, work: string): Mount {
  return {
    type: 'overlay',
    source: 'overlay',
    options: [
      ...(overlayHasIndexParam ? ['index=off'] : []),
      `workdir=${work}`,
      `upperdir=${upper}`,
      `lowerdir=${lowers.join(':')}`,
    ],
  };
}
