// image layer: public door. Registry pulls (OCI distribution, auth, hosts.toml mirrors), a
// verified content store, safe layer unpack into overlay snapshots, image records, container
// rootfs mounts. See docs/images.md.
export {
  ImageService, RELEASE_AFTER_MS, ROOTFS_USAGE_MAX_AGE_MS, FS_USAGE_REFRESH_MS, type ImageServiceOptions, type FsUsage,
} from './image-service.js';
export type { Usage, Measured } from './disk-usage.js';
export { imageUser, type ImageRecord, type ImageFilter } from './image-store.js';
export { pinnedImageIds } from './pinned.js';
export type { PullOptions, PullProgress } from './pull.js';
export { chainIdsOf } from './pull.js';
export type { Credentials, CredentialsProvider } from './auth.js';
export { parseReference, normalizeReference, formatReference, repoName, type ImageRef } from './reference.js';
export { resolveHosts, defaultHost, type RegistryHost } from './hosts.js';
export type { Mount } from '../sys/index.js';
export type { ImageConfig, Descriptor, Manifest, Index } from './media-types.js';
export type { ImageDb } from './json-table.js';
export { imageRootOf, ingestDirOf } from './layout.js';
export { resolveDirInside } from './safe-resolve.js';
export { fullGcFunction } from './full-gc.js';
