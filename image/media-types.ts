// OCI and Docker media types, manifest/index JSON shapes, and linux/amd64 platform selection.
import { InvalidArgumentError, NotFoundError, UnimplementedError } from '../common/index.js';
import { checkDigest } from './reference.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** containerd's resolve Accept header, one comma-joined value. */
export const MANIFEST_ACCEPT = [MediaType.dockerManifest, MediaType.dockerList, MediaType.ociManifest, MediaType.ociIndex, '*/*'].join(', ');

/** containerd refuses manifests larger than this at resolve time (4·1048·1048, sic). */
export const MAX_MANIFEST_SIZE = 4 * 1048 * 1048;

/**
 * An image config is parsed in memory: one bigger than 4 MiB is refused before it is fetched
 * (containers/image caps config bodies at 4 MiB too; real configs are a few KiB). docs/security.md.
 */
export const MAX_CONFIG_SIZE = 4 << 20;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}
export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  [k: string]: unknown;
}

export function isIndexType(mt: string): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerList;
}
export function isManifestType(mt: string): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

export type Compression = 'none' | 'gzip' | 'zstd';

/** Layer compression from its media type; unknown types are InvalidArgument. */
export function layerCompression(mt: string): Compression {
  if (mt.endsWith('+encrypted')) throw new UnimplementedError(`layer media type ${mt}: encrypted layers are not supported`);
  if (mt === MediaType.dockerLayerGzip || mt === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') return 'gzip';
  if (mt === MediaType.dockerLayer) return 'none';
  const m = /^application\/vnd\.oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(\+gzip|\+zstd)?$/.exec(mt);
  if (!m) throw new InvalidArgumentError(`unsupported layer media type ${JSON.stringify(mt)}`);
  return m[1] === '+gzip' ? 'gzip' : m[1] === '+zstd' ? 'zstd' : 'none';
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  const o = d as Descriptor;
  if (typeof o !== 'object' || o === null || typeof o.mediaType !== 'string' || typeof o.size !== 'number'
    || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new InvalidArgumentError(`${what}: invalid descriptor`);
  }
  checkDigest(o.digest, `${what} digest`);
  return o;
}

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`${what}: invalid JSON`, { cause: err });
  }
}

/** Parses a manifest body fetched under media type `mt`, checking it has the shape of that type. */
export function parseManifestOrIndex(body: Buffer, mt: string, what: string): { kind: 'index'; index: Index } | { kind: 'manifest'; manifest: Manifest } {
  if (mt === MediaType.dockerSchema1 || mt === 'text/plain') {
    throw new UnimplementedError(`${what}: Docker schema1 manifests are not supported`);
  }
  const j = parseJson(body, what);
  if ('fsLayers' in j) throw new UnimplementedError(`${what}: Docker schema1 manifests are not supported`);
  const hasManifests = Array.isArray(j.manifests);
  const hasLayers = 'config' in j || 'layers' in j;
  const declared = typeof j.mediaType === 'string' ? j.mediaType : undefined;
  const asIndex = isIndexType(mt) || (declared !== undefined && isIndexType(declared)) || (hasManifests && !hasLayers);
  if (asIndex) {
    if (hasLayers || !hasManifests || isManifestType(mt)) throw new InvalidArgumentError(`${what}: body does not match index media type`);
    const manifests = (j.manifests as unknown[]).map((d, i) => checkDescriptor(d, `${what} manifests[${i}]`));
    return { kind: 'index', index: { schemaVersion: Number(j.schemaVersion), mediaType: declared, manifests } };
  }
  if (hasManifests || !Array.isArray(j.layers)) throw new InvalidArgumentError(`${what}: body does not match manifest media type`);
  const config = checkDescriptor(j.config, `${what} config`);
  const layers = (j.layers as unknown[]).map((d, i) => checkDescriptor(d, `${what} layers[${i}]`));
  return { kind: 'manifest', manifest: { schemaVersion: Number(j.schemaVersion), mediaType: declared, config, layers } };
}

export function parseImageConfig(body: Buffer, what: string): ImageConfig {
  const j = parseJson(body, what) as ImageConfig;
  if (typeof j.rootfs !== 'object' || j.rootfs === null || !Array.isArray(j.rootfs.diff_ids)) {
    throw new InvalidArgumentError(`${what}: config has no rootfs.diff_ids`);
  }
  j.rootfs.diff_ids.forEach((d, i) => checkDigest(d, `${what} diff_ids[${i}]`));
  return j;
}

function normalizeArch(p: Platform): { os: string; arch: string; variant: string } {
  let arch = (p.architecture ?? '').toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  if (arch === 'amd64' && variant === 'v1') variant = '';
  if (arch === 'i386') arch = '386';
  if (arch === 'aarch64') arch = 'arm64';
  if (arch === 'arm64' && (variant === '8' || variant === 'v8')) variant = '';
  return { os: (p.os ?? '').toLowerCase(), arch, variant };
}

/** Preference of `p` for a linux/amd64 host: 0 best, 1 = linux/386, undefined = no match. */
function rank(p: Platform | undefined): number | undefined {
  if (!p) return 2;
  const n = normalizeArch(p);
  if (n.os !== 'linux' || n.variant !== '') return undefined;
  if (n.arch === 'amd64') return 0;
  if (n.arch === '386') return 1;
  return undefined;
}

/** The index entry containerd would pull on linux/amd64 (children without platform sort last). */
export function selectPlatform(index: Index, what: string): Descriptor {
  const ranked = index.manifests
    .map((d, i) => ({ d, i, r: rank(d.platform) }))
    .filter((x): x is { d: Descriptor; i: number; r: number } => x.r !== undefined && isManifestType(x.d.mediaType))
    .sort((a, b) => a.r - b.r || a.i - b.i);
  if (ranked.length === 0) throw new NotFoundError(`${what}: no match for platform in manifest: not found`);
  return ranked[0]!.d;
}
