// ImageService methods, delegating to image/: PullImage (with auth; berth.local/* images are
// built on the machine), ListImages, ImageStatus (verbose), RemoveImage, ImageFsInfo. Images the
// `pinned` references name are reported `pinned` (image/pinned.ts).
import { InvalidArgumentError } from '../common/index.js';
import { pinnedImageIds, type Credentials, type ImageRecord, type ImageService } from '../image/index.js';
import type { runtime } from '../proto/cri-wire.js';
import type { BerthConfig } from './config/index.js';
import { LOCAL_PAUSE_IMAGE, buildLocalImage, int64, isLocalImage } from './runtime/index.js';

/** The images reported pinned: the sandbox image (the locally built pause too: the fallback) and `pinned_images`. */
export function pinnedRefs(config: Pick<BerthConfig, 'sandboxImage' | 'pinnedImages'>): string[] {
  return [config.sandboxImage, LOCAL_PAUSE_IMAGE, ...Object.values(config.pinnedImages)];
}

function imageMessage(r: ImageRecord, pinned: ReadonlySet<string>): runtime.v1.Image.$Properties {
  const user = String((r.config.config as { User?: string } | undefined)?.User ?? '').split(':')[0] ?? '';
  return {
    id: r.id, repoTags: [...r.repoTags], repoDigests: [...r.repoDigests], size: r.size, spec: { image: r.id }, pinned: pinned.has(r.id),
    ...(/^\d+$/.test(user) ? { uid: { value: Number(user) } } : { username: user }),
  };
}

function credentials(auth: runtime.v1.IAuthConfig | null | undefined): Credentials | undefined {
  if (!auth) return undefined;
  if (auth.identityToken) return { identityToken: auth.identityToken };
  if (auth.username) return { username: auth.username, password: auth.password ?? '' };
  if (auth.auth) return { auth: auth.auth };
  return undefined;
}

export async function pullImage(images: ImageService, req: runtime.v1.PullImageRequest): Promise<runtime.v1.PullImageResponse.$Properties> {
  const ref = req.image?.image ?? '';
  if (ref === '') throw new InvalidArgumentError('PullImage: image reference is empty');
  const creds = credentials(req.auth);
  const rec = isLocalImage(ref) ? await buildLocalImage(images, ref) : await images.pull(ref, creds ? { credentials: creds } : {});
  return { imageRef: rec.id };
}

export function listImages(images: ImageService, req: runtime.v1.ListImagesRequest, pinned: readonly string[] = []): runtime.v1.ListImagesResponse.$Properties {
  const want = req.filter?.image?.image ?? '';
  const ids = pinnedImageIds(images, pinned);
  return { images: images.list(want ? { image: want } : {}).map((r) => imageMessage(r, ids)) };
}

export function imageStatus(images: ImageService, req: runtime.v1.ImageStatusRequest, pinned: readonly string[] = []): runtime.v1.ImageStatusResponse.$Properties {
  const ref = req.image?.image ?? '';
  const rec = ref === '' ? undefined : images.status(ref);
  if (!rec) return {};
  return {
    image: imageMessage(rec, pinnedImageIds(images, pinned)),
    ...(req.verbose ? { info: { info: JSON.stringify({ imageSpec: rec.config, chainID: rec.chainIds.at(-1) ?? '', target: rec.target }) } } : {}),
  };
}

/** RemoveImage: an image no id, tag or digest names is already removed (success, as containerd). */
export async function removeImage(images: ImageService, req: runtime.v1.RemoveImageRequest): Promise<void> {
  const ref = req.image?.image ?? '';
  if (ref === '') throw new InvalidArgumentError('RemoveImage: image reference is empty');
  await images.remove(ref);
}

export async function imageFsInfo(images: ImageService): Promise<runtime.v1.ImageFsInfoResponse.$Properties> {
  const u = await images.fsUsage();
  const timestamp = int64((BigInt(u.timestamp) * 1_000_000n).toString());
  const fs = { timestamp, fsId: { mountpoint: u.mountpoint }, usedBytes: { value: u.usedBytes }, inodesUsed: { value: u.inodesUsed } };
  // The containers' rw snapshots live on the same filesystem (same mountpoint, so kubelet sees no
  // split disk) and are reported apart as well: docs/cri.md "ImageFsInfo".
  const containers = { timestamp, fsId: { mountpoint: u.mountpoint }, usedBytes: { value: u.containers.usedBytes }, inodesUsed: { value: u.containers.inodesUsed } };
  return { imageFilesystems: [fs], containerFilesystems: [containers] };
}
