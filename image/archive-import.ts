// The second half of `berthctl import` (docs/images.md "Import and export"): the images of a
// staged OCI layout (index.json + blobs/sha256/<hex>) or docker-archive (manifest.json + config
// and layer tars) go into the content store, each blob verified against its digest and size as
// it streams in, their layers are unpacked as a pull unpacks them (diff ids checked), and the
// images are recorded under the names the archive gives. Blobs and snapshots are leased until
// the records exist; on a failure the caller collects whatever the import left unreferenced.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createHash, FailedPreconditionError, InvalidArgumentError, type KeyedMutex, type Logger } from '../common/index.js';
import type { StagedArchive } from './archive-stage.js';
import type { ContentStore } from './content-store.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import {
  MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, MediaType, isIndexType, layerCompression, parseImageConfig, parseManifestOrIndex, selectPlatform,
  type Descriptor, type Manifest,
} from './media-types.js';
import { chainIdsOf, type Leases } from './pull.js';
import { normalizeReference, parseReference, repoName } from './reference.js';
import type { Snapshotter } from './snapshots.js';
import { WORKER_MIN_BYTES, type Unpacker } from './unpacker.js';

export interface ImportDeps {
  content: ContentStore;
  snapshots: Snapshotter;
  images: ImageStore;
  leases: Leases;
  /** Per-digest lock shared with pulls and GC. */
  downloads: KeyedMutex;
  unpacker?: Unpacker;
  workerMinBytes?: number;
  log: Logger;
}

export interface ImportOptions {
  /**
   * Names an image whose archive gives only a tag (`org.opencontainers.image.ref.name` = `1.0`):
   * `<baseName>:<tag>`; such images are imported without a name otherwise (their id only).
   */
  baseName?: string;
}

/** One image found in an archive: where its blobs are, and the names it goes by. */
interface Found {
  names: string[];
  /** The descriptor the archive points at (an index for multi-platform images). */
  top: Descriptor;
  manifest: Descriptor;
  /** A blob the archive does not carry (docker-archive's manifest, made here). */
  made?: Map<string, Buffer>;
  /** digest -> member name, where members are not named by digest (docker-archive). */
  members?: Map<string, string>;
}

const ANNOTATION_NAME = 'io.containerd.image.name';
const ANNOTATION_REF = 'org.opencontainers.image.ref.name';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

const blobName = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/** An archive's image name: a full reference, or a bare tag with `baseName`; undefined when neither. */
function imageName(annotations: Record<string, string> | undefined, baseName: string | undefined): string | undefined {
  const full = annotations?.[ANNOTATION_NAME];
  if (full) return normalizeReference(full);
  const ref = annotations?.[ANNOTATION_REF];
  if (!ref) return undefined;
  // A bare tag (`latest`, `1.0`) per the image-spec, or a whole reference as skopeo and docker write it.
  if (/^[\w][\w.-]{0,127}$/.test(ref)) return baseName ? normalizeReference(`${baseName}:${ref}`) : undefined;
  return normalizeReference(ref);
}

async function findOci(staged: StagedArchive, opts: ImportOptions): Promise<Found[]> {
  const layout = JSON.parse((await staged.read('oci-layout', 'file', 4096)).toString('utf8')) as { imageLayoutVersion?: unknown };
  if (layout.imageLayoutVersion !== '1.0.0') {
    throw new InvalidArgumentError(`image archive: oci-layout version ${JSON.stringify(layout.imageLayoutVersion)} is not 1.0.0`);
  }
  const body = await staged.read('index.json', 'file', MAX_MANIFEST_SIZE);
  const doc = parseManifestOrIndex(body, MediaType.ociIndex, 'image archive index.json');
  if (doc.kind !== 'index') throw new InvalidArgumentError('image archive: index.json is not an index');
  const out: Found[] = [];
  for (const top of doc.index.manifests) {
    const name = imageName(top.annotations, opts.baseName);
    let manifest = top;
    if (isIndexType(top.mediaType)) {
      const child = parseManifestOrIndex(await readVerified(staged, top), top.mediaType, `image archive index ${top.digest}`);
      if (child.kind !== 'index') throw new InvalidArgumentError(`image archive: ${top.digest} is not an index`);
      manifest = selectPlatform(child.index, `image archive index ${top.digest}`);
    }
    const same = out.find((f) => f.top.digest === top.digest);
    if (same) {
      if (name && !same.names.includes(name)) same.names.push(name);
      continue;
    }
    out.push({ names: name ? [name] : [], top, manifest });
  }
  return out;
}

/** A small blob of the OCI layout, read and checked against its descriptor before it is parsed. */
async function readVerified(staged: StagedArchive, d: Descriptor): Promise<Buffer> {
  const body = await staged.read(blobName(d.digest), `blob ${d.digest}`, MAX_MANIFEST_SIZE);
  const actual = sha256(body);
  if (actual !== d.digest || body.length !== d.size) {
    throw new FailedPreconditionError(`image archive: blob ${d.digest} has digest ${actual} and ${body.length} bytes, expected ${d.size}`);
  }
  return body;
}

interface DockerEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

/** The digest a docker-archive member's name claims (`<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`), if any. */
function claimedDigest(name: string): string | undefined {
  const m = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json|\.tar)?$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

async function layerMediaType(file: string): Promise<string> {
  const fh = await fs.open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    const b = buffer.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return MediaType.dockerLayerGzip;
    if (b.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return MediaType.ociLayerZstd;
    return MediaType.dockerLayer;
  } finally {
    await fh.close();
  }
}

/** A docker-archive's images: a Docker v2 manifest is made for each (the archive has none). */
async function findDocker(staged: StagedArchive): Promise<Found[]> {
  const list = JSON.parse((await staged.read('manifest.json', 'file', MAX_MANIFEST_SIZE)).toString('utf8')) as unknown;
  if (!Array.isArray(list)) throw new InvalidArgumentError('image archive: manifest.json is not a list');
  const out: Found[] = [];
  for (const [i, raw] of (list as DockerEntry[]).entries()) {
    const what = `image archive: manifest.json[${i}]`;
    if (typeof raw?.Config !== 'string' || !Array.isArray(raw.Layers) || !raw.Layers.every((l) => typeof l === 'string')) {
      throw new InvalidArgumentError(`${what}: needs Config and Layers`);
    }
    const configBody = await staged.read(raw.Config, 'config', MAX_CONFIG_SIZE);
    const configDigest = sha256(configBody);
    const claimed = claimedDigest(raw.Config);
    if (claimed && claimed !== configDigest) throw new FailedPreconditionError(`${what}: config ${raw.Config} has digest ${configDigest}`);
    parseImageConfig(configBody, `${what} config`);
    const layers: Descriptor[] = [];
    for (const name of raw.Layers as string[]) {
      const f = staged.get(name, 'layer');
      const digest = claimedDigest(name) ?? await sha256OfFile(f.file);
      layers.push({ mediaType: await layerMediaType(f.file), digest, size: f.size });
    }
    const manifestBody = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: configDigest, size: configBody.length }, layers,
    }));
    const manifest: Descriptor = { mediaType: MediaType.dockerManifest, digest: sha256(manifestBody), size: manifestBody.length };
    const names = Array.isArray(raw.RepoTags) ? raw.RepoTags.filter((t): t is string => typeof t === 'string').map((t) => normalizeReference(t)) : [];
    const made = new Map<string, Buffer>([[manifest.digest, manifestBody]]);
    // docker-archive members are found by name; the content store wants them by digest.
    const byDigest = new Map<string, string>([[configDigest, raw.Config], ...layers.map((l, j): [string, string] => [l.digest, (raw.Layers as string[])[j]!])]);
    out.push({ names, top: manifest, manifest, made, members: byDigest });
  }
  return out;
}

/** Where a digest's bytes are in the archive: `blobs/sha256/<hex>`, or the docker-archive member named for it. */
function memberOf(f: Found, digest: string): string {
  return f.members?.get(digest) ?? blobName(digest);
}

export async function importImages(deps: ImportDeps, staged: StagedArchive, opts: ImportOptions = {}): Promise<ImageRecord[]> {
  const isOci = staged.find('index.json') !== undefined && staged.find('oci-layout') !== undefined;
  if (!isOci && staged.find('manifest.json') === undefined) {
    throw new InvalidArgumentError('image archive: neither an OCI layout (oci-layout, index.json) nor a docker-archive (manifest.json)');
  }
  const found = isOci ? await findOci(staged, opts) : await findDocker(staged);
  if (found.length === 0) throw new InvalidArgumentError('image archive: it names no image');
  const leased: string[] = [];
  const lease = (...names: string[]) => {
    deps.leases.add(names);
    leased.push(...names);
  };
  try {
    const records: ImageRecord[] = [];
    for (const f of found) records.push(await importOne(deps, staged, f, lease));
    return records;
  } finally {
    deps.leases.release(leased);
  }
}

async function importOne(deps: ImportDeps, staged: StagedArchive, f: Found, lease: (...names: string[]) => void): Promise<ImageRecord> {
  // Under the digest's lock, like a pull and GC: a blob seen here is not being deleted.
  const store = (d: Descriptor) => {
    lease(d.digest);
    return deps.downloads.run(d.digest, async () => {
      if (await deps.content.has(d.digest)) return;
      const made = f.made?.get(d.digest);
      if (made) await deps.content.writeBytes(made, d.digest);
      else await deps.content.write(staged.open(memberOf(f, d.digest), `blob ${d.digest}`), { digest: d.digest, size: d.size });
    });
  };
  await store(f.top);
  if (f.manifest !== f.top) await store(f.manifest);
  const parsed = parseManifestOrIndex(await deps.content.readBytes(f.manifest.digest), f.manifest.mediaType, `image archive manifest ${f.manifest.digest}`);
  if (parsed.kind !== 'manifest') throw new InvalidArgumentError(`image archive: ${f.manifest.digest} is not a manifest`);
  const manifest: Manifest = parsed.manifest;
  if (manifest.config.size > MAX_CONFIG_SIZE) {
    throw new FailedPreconditionError(`image archive: config ${manifest.config.digest} is ${manifest.config.size} bytes, more than ${MAX_CONFIG_SIZE}`);
  }
  await store(manifest.config);
  const config = parseImageConfig(await deps.content.readBytes(manifest.config.digest), `config ${manifest.config.digest}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new FailedPreconditionError(`image archive: ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
  }
  const compressions = manifest.layers.map((l) => layerCompression(l.mediaType));
  for (const l of manifest.layers) await store(l);
  const chainIds = chainIdsOf(diffIds);
  lease(...chainIds);
  const inline = manifest.layers.reduce((a, l) => a + l.size, 0) < (deps.workerMinBytes ?? WORKER_MIN_BYTES);
  if (!inline) deps.unpacker?.warm();
  for (const [i, l] of manifest.layers.entries()) {
    await deps.snapshots.commitLayer(chainIds[i]!, i === 0 ? '' : chainIds[i - 1]!, diffIds[i]!,
      { file: deps.content.blobPath(l.digest), inline }, compressions[i]!);
  }
  const size = f.top.size + (f.manifest !== f.top ? f.manifest.size : 0) + manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
  const rec = await deps.images.upsert({
    id: manifest.config.digest,
    repoTags: f.names.filter((n) => parseReference(n).tag !== undefined),
    repoDigests: [...new Set(f.names.map((n) => `${repoName(parseReference(n))}@${f.top.digest}`))],
    target: { digest: f.top.digest, mediaType: f.top.mediaType, size: f.top.size },
    manifestDigest: f.manifest.digest,
    config,
    size,
    chainIds,
    blobs: [...new Set([f.top.digest, f.manifest.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])],
    createdAt: new Date().toISOString(),
  });
  deps.log.info({ id: rec.id, names: f.names }, 'image imported');
  return rec;
}
