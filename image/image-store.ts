// Image records: one per image id (the config digest), carrying every repo tag and repo digest
// that names it. Durable in level first, then visible in memory.
import { InvalidArgumentError, NotFoundError } from '../common/index.js';
import { jsonTable, type ImageDb, type JsonTable } from './json-table.js';
import type { Descriptor, ImageConfig } from './media-types.js';
import { isSha256Digest, normalizeReference, parseReference } from './reference.js';

export interface ImageRecord {
  /** Config digest, `sha256:<hex>` (the CRI image id). */
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  /** The top-level descriptor the pull resolved (an index for multi-arch images). */
  readonly target: Pick<Descriptor, 'digest' | 'mediaType' | 'size'>;
  readonly manifestDigest: string;
  readonly config: ImageConfig;
  /** Sum of top manifest(s), config and compressed layers, like containerd's CRI. */
  readonly size: number;
  /** chainID of each layer, base first; the last one is the rootfs parent. */
  readonly chainIds: readonly string[];
  /** Every blob this image keeps alive (index, manifest, config, layers). */
  readonly blobs: readonly string[];
  readonly createdAt: string;
}

export interface ImageFilter {
  /** A ref or id; only the image it names is listed. */
  image?: string;
}

function uniq(xs: Iterable<string>): string[] {
  return [...new Set(xs)];
}

export class ImageStore {
  readonly #db: JsonTable<ImageRecord>;
  readonly #byId = new Map<string, ImageRecord>();

  private constructor(db: ImageDb) {
    this.#db = jsonTable<ImageRecord>(db, 'images');
  }

  static async open(db: ImageDb): Promise<ImageStore> {
    const s = new ImageStore(db);
    for await (const [id, rec] of s.#db.iterator()) s.#byId.set(id, Object.freeze(rec));
    return s;
  }

  list(filter: ImageFilter = {}): ImageRecord[] {
    if (filter.image) {
      const r = this.find(filter.image);
      return r ? [r] : [];
    }
    return [...this.#byId.values()];
  }

  /** The image an id (`sha256:…`, or bare 64 hex), tag ref or digest ref names, or undefined. */
  find(refOrId: string): ImageRecord | undefined {
    const id = /^[0-9a-f]{64}$/.test(refOrId) ? `sha256:${refOrId}` : refOrId;
    if (isSha256Digest(id)) return this.#byId.get(id);
    let norm: string;
    try {
      norm = normalizeReference(refOrId);
    } catch (err) {
      if (err instanceof InvalidArgumentError) return undefined;
      throw err;
    }
    const isDigest = parseReference(refOrId).digest !== undefined;
    for (const r of this.#byId.values()) {
      if ((isDigest ? r.repoDigests : r.repoTags).includes(norm)) return r;
    }
    return undefined;
  }

  get(refOrId: string): ImageRecord {
    const r = this.find(refOrId);
    if (!r) throw new NotFoundError(`image ${JSON.stringify(refOrId)}: not found`);
    return r;
  }

  /**
   * Stores `rec`, merging tags and digests with an existing record of the same id. A tag that
   * named another image moves to this one (and that image keeps its other names).
   */
  async upsert(rec: ImageRecord): Promise<ImageRecord> {
    for (const other of [...this.#byId.values()]) {
      if (other.id === rec.id) continue;
      const tags = other.repoTags.filter((t) => !rec.repoTags.includes(t));
      if (tags.length !== other.repoTags.length) await this.#write({ ...other, repoTags: tags });
    }
    const prev = this.#byId.get(rec.id);
    const next: ImageRecord = prev
      ? { ...rec, repoTags: uniq([...prev.repoTags, ...rec.repoTags]), repoDigests: uniq([...prev.repoDigests, ...rec.repoDigests]),
        blobs: uniq([...prev.blobs, ...rec.blobs]), createdAt: prev.createdAt }
      : rec;
    return this.#write(next);
  }

  async #write(rec: ImageRecord): Promise<ImageRecord> {
    await this.#db.put(rec.id, rec);
    const frozen = Object.freeze({ ...rec });
    this.#byId.set(rec.id, frozen);
    return frozen;
  }

  async delete(id: string): Promise<void> {
    await this.#db.del(id);
    this.#byId.delete(id);
  }
}

/** CRI's uid/username from the config `User`: digits -> uid, else username; group part ignored. */
export function imageUser(rec: Pick<ImageRecord, 'config'>): { uid?: number; username: string } {
  const user = String((rec.config.config as { User?: unknown } | undefined)?.User ?? '').split(':')[0]!;
  if (user === '') return { username: '' };
  if (/^\d+$/.test(user)) return { uid: Number(user), username: '' };
  return { username: user };
}
