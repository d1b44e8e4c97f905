// Images as CreateContainer and RunPodSandbox need them: the record an image ref names (NotFound
// if not pulled), the sandbox image (pulled on demand, else the locally built pause image), the
// image config in the OCI layer's shape, and a read-only view of a rootfs to read /etc/passwd.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, type Logger } from '../../common/index.js';
import type { ImageRecord, ImageService } from '../../image/index.js';
import { mountAll, unmountAll, type Mount } from '../../sys/index.js';
import type { ImageConfig } from '../oci/index.js';
import { LOCAL_PAUSE_IMAGE, buildLocalImage, isLocalImage } from './local-image.js';

export function imageRecord(images: ImageService, ref: string): ImageRecord {
  const rec = ref === '' ? undefined : images.status(ref);
  if (!rec) throw new NotFoundError(`image ${JSON.stringify(ref)} not found: pull it first`);
  return rec;
}

/** The `config` object of an image config (User, Env, Entrypoint, Cmd, WorkingDir, StopSignal). */
export function ociImageConfig(rec: ImageRecord): ImageConfig {
  return (rec.config.config ?? {}) as ImageConfig;
}

/**
 * The pause image: `sandbox_image` if present or pullable; otherwise the local pause image,
 * built from busybox-static when missing (a machine without registry access still runs pods).
 */
export async function ensureSandboxImage(images: ImageService, sandboxImage: string, log: Logger): Promise<ImageRecord> {
  const have = images.status(sandboxImage);
  if (have) return have;
  if (isLocalImage(sandboxImage)) return buildLocalImage(images, sandboxImage);
  // An offline machine must not pay a failing pull (DNS, connect timeouts) on every pod.
  const failed = pullFailures.get(images)?.get(sandboxImage);
  const local = images.status(LOCAL_PAUSE_IMAGE);
  if (local && failed !== undefined && Date.now() - failed < PULL_RETRY_MS) return local;
  try {
    return await images.pull(sandboxImage);
  } catch (err) {
    log.warn({ err, image: sandboxImage }, `sandbox image cannot be pulled; using the locally built ${LOCAL_PAUSE_IMAGE}`);
    if (!pullFailures.has(images)) pullFailures.set(images, new Map());
    pullFailures.get(images)!.set(sandboxImage, Date.now());
    return buildLocalImage(images, LOCAL_PAUSE_IMAGE);
  }
}

/** After a failed sandbox image pull, the local pause image is used for this long before retrying. */
const PULL_RETRY_MS = 5 * 60_000;
const pullFailures = new WeakMap<ImageService, Map<string, number>>();

function lowerDirs(mounts: readonly Mount[]): string[] {
  for (const m of mounts) {
    const opt = m.options.find((o) => o.startsWith('lowerdir='));
    if (opt) return opt.slice('lowerdir='.length).split(':');
  }
  return [];
}

/**
 * Runs `fn` with a read-only view of the image layers under a rootfs' overlay mounts (the
 * container's rw layer is still empty): the single layer dir, or a lower-only overlay.
 */
export async function withRootfsView<T>(mounts: readonly Mount[], scratch: string, fn: (root: string) => T | Promise<T>): Promise<T> {
  const lowers = lowerDirs(mounts);
  if (lowers.length === 0) throw new NotFoundError('rootfs has no image layers');
  if (lowers.length === 1) return fn(lowers[0]!);
  const dir = await mkdtemp(path.join(scratch, 'view-'));
  try {
    mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }], dir);
    try {
      return await fn(dir);
    } finally {
      unmountAll(dir);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Image-layer mounts in the task manager's (mutable) Mount shape. */
export function taskMounts(mounts: readonly Mount[]): Array<{ type: string; source: string; options: string[] }> {
  return mounts.map((m) => ({ type: m.type, source: m.source, options: [...m.options] }));
}
