// `berthctl export` (docs/images.md "Import and export"): one image as an OCI layout tar —
// `oci-layout`, `index.json` naming the image's manifest once per repo tag (annotations
// `io.containerd.image.name` = the whole reference, `org.opencontainers.image.ref.name` = its tag,
// as containerd's exporter writes them), and `blobs/sha256/<hex>` for the manifest, the config and
// every layer, streamed from the content store. A multi-platform image is exported as the
// platform the node pulled (its other manifests were never fetched). Import reads it back to the
// same image id.
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ContentStore } from './content-store.js';
import type { ImageRecord } from './image-store.js';
import { MediaType, parseManifestOrIndex } from './media-types.js';
import { parseReference } from './reference.js';

/** The OCI index an export writes for `rec`, whose manifest is `manifest` (mediaType, size). */
export function exportIndex(rec: ImageRecord, manifest: { mediaType: string; size: number }): Buffer {
  const desc = { mediaType: manifest.mediaType, digest: rec.manifestDigest, size: manifest.size };
  const manifests = rec.repoTags.length === 0 ? [desc] : rec.repoTags.map((n) => ({
    ...desc, annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': parseReference(n).tag ?? 'latest' },
  }));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
}

/** Writes `rec` as an OCI layout tar to `sink` (the caller keeps the blobs from GC meanwhile). */
export async function exportArchive(content: ContentStore, rec: ImageRecord, sink: Writable): Promise<void> {
  const manifestBody = await content.readBytes(rec.manifestDigest);
  const target = rec.target.digest === rec.manifestDigest ? rec.target.mediaType : undefined;
  const mediaType = target ?? (JSON.parse(manifestBody.toString('utf8')) as { mediaType?: string }).mediaType ?? MediaType.ociManifest;
  const doc = parseManifestOrIndex(manifestBody, mediaType, `manifest ${rec.manifestDigest}`);
  if (doc.kind !== 'manifest') throw new Error(`manifest ${rec.manifestDigest} is an index`);
  const blobs = [rec.manifestDigest, doc.manifest.config.digest, ...doc.manifest.layers.map((l) => l.digest)];
  const pack = tar.pack();
  const done = pipeline(pack, sink);
  done.catch(() => undefined);
  const add = (name: string, body: Buffer) => pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body);
  try {
    add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    add('index.json', exportIndex(rec, { mediaType, size: manifestBody.length }));
    for (const d of [...new Set(blobs)]) {
      const { size } = await content.info(d);
      const entry = pack.entry({ name: `blobs/sha256/${d.slice('sha256:'.length)}`, size, mode: 0o644, mtime: new Date(0) });
      await pipeline(content.openRead(d), entry);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}
