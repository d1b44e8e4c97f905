// Images berth builds on the machine itself from busybox-static, so a host without registry
// access still runs pods: the default pause image (deploy/pause/README.md) and a small busybox
// image for the quickstart demo. Built as a one-layer OCI image (uncompressed tar), written to
// the content store, unpacked as a snapshot and recorded like a pulled image.
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { createHash, NotFoundError } from '../../common/index.js';
import type { ImageRecord, ImageService } from '../../image/index.js';

export const BUSYBOX_BINARY = '/usr/bin/busybox';
/** The name of the locally built pause image. */
export const LOCAL_PAUSE_IMAGE = 'berth.local/pause:3.9';
/** The name of the locally built busybox image (quickstart demo, tests). */
export const LOCAL_BUSYBOX_IMAGE = 'berth.local/busybox:latest';

// A pause loop in busybox sh: sleeps forever, reaps what it is handed, exits 0 on TERM/INT.
const PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";
const APPLETS = [
  'sh', 'ls', 'cat', 'echo', 'env', 'touch', 'mkdir', 'rm', 'id', 'sleep', 'true', 'false', 'ps', 'head', 'tail', 'printf',
  'seq', 'yes', 'dd', 'grep', 'wc', 'hostname', 'kill', 'date', 'uname', 'whoami', 'test', 'mount', 'cut', 'tr',
];

interface LocalImageRecipe {
  name: string;
  entrypoint: string[];
  cmd: string[];
  stopSignal?: string;
}

const RECIPES: Record<string, LocalImageRecipe> = {
  [LOCAL_PAUSE_IMAGE]: { name: LOCAL_PAUSE_IMAGE, entrypoint: ['/bin/sh', '-c', PAUSE_SCRIPT], cmd: [], stopSignal: 'SIGTERM' },
  [LOCAL_BUSYBOX_IMAGE]: { name: LOCAL_BUSYBOX_IMAGE, entrypoint: [], cmd: ['/bin/sh'] },
};

export function isLocalImage(ref: string): boolean {
  return Object.hasOwn(RECIPES, ref);
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function busyboxLayerTar(): Promise<Buffer> {
  const busybox = await readFile(BUSYBOX_BINARY).catch((err: unknown) => {
    throw new NotFoundError(`cannot build a local image: ${BUSYBOX_BINARY} is missing (install busybox-static)`, { cause: err });
  });
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  const mtime = new Date(0); // same bytes every build: the same image id
  const dir = (name: string, mode = 0o755) => pack.entry({ name, type: 'directory', mode, mtime });
  dir('bin/');
  pack.entry({ name: 'bin/busybox', mode: 0o755, mtime }, busybox);
  for (const a of APPLETS) pack.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mtime });
  for (const d of ['dev/', 'proc/', 'sys/', 'root/', 'etc/']) dir(d, d === 'root/' ? 0o700 : 0o755);
  dir('tmp/', 0o1777);
  pack.entry({ name: 'etc/passwd', mode: 0o644, mtime }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  pack.entry({ name: 'etc/group', mode: 0o644, mtime }, 'root:x:0:\nnogroup:x:65534:\n');
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Builds the local image `ref` (one of LOCAL_PAUSE_IMAGE, LOCAL_BUSYBOX_IMAGE) and records it
 * in the image service, unless it is there already. Returns its record.
 */
export async function buildLocalImage(images: ImageService, ref: string): Promise<ImageRecord> {
  const recipe = RECIPES[ref];
  if (!recipe) throw new NotFoundError(`no local recipe for image ${JSON.stringify(ref)}`);
  const existing = images.status(ref);
  if (existing) return existing;
  const layer = await busyboxLayerTar();
  const diffId = sha256(layer);
  const config = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux', created: new Date(0).toISOString(),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(recipe.entrypoint.length > 0 ? { Entrypoint: recipe.entrypoint } : {}),
      ...(recipe.cmd.length > 0 ? { Cmd: recipe.cmd } : {}),
      ...(recipe.stopSignal ? { StopSignal: recipe.stopSignal } : {}),
      Labels: { 'io.berth.local-image': 'true' },
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: layer.length }],
  }));
  const manifestDigest = sha256(manifest);
  await images.content.writeBytes(layer, diffId);
  await images.content.writeBytes(configBytes, configDigest);
  await images.content.writeBytes(manifest, manifestDigest);
  // A single layer's chain id is its diff id (the OCI image spec's ChainID).
  await images.snapshots.commitLayer(diffId, '', diffId, { open: () => Readable.from([layer]) }, 'none');
  return images.images.upsert({
    id: configDigest, repoTags: [recipe.name], repoDigests: [],
    target: { digest: manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length },
    manifestDigest, config, size: manifest.length + configBytes.length + layer.length,
    chainIds: [diffId], blobs: [manifestDigest, configDigest, diffId], createdAt: new Date().toISOString(),
  });
}
