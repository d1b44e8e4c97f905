// Image volumes (CRI Mount.image + image_sub_path, KEP 4639) as containerd 2.x mounts them
// (docs/cri.md "Image volumes"): the image kubelet pulled is looked up locally (never pulled
// here), a read-only view of its layers is recorded (it keeps them from image GC even when the
// image is removed) and mounted once per pod at <state>/image-volumes/<sandbox id>/<image id>,
// shared by the pod's containers; the sub path is resolved inside that mount (symlinks included,
// nothing may lead out of it). StopPodSandbox and RemovePodSandbox unmount and release them, and
// so does a restart for pods that are no longer ready.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, InternalError, InvalidArgumentError, NotFoundError, joinWithin, type Logger } from '../../common/index.js';
import { resolveDirInside, type ImageService } from '../../image/index.js';
import { isMountPoint, mountAll, unmountAll, type Mount } from '../../sys/index.js';
import type { CriMount } from '../oci/index.js';

/** The prefix containerd gives these errors (cri-api errors.ErrImageVolumeMountFailed); kubelet looks for it. */
const FAILED = 'ImageVolumeMountFailed';

type Deps = { images: ImageService; dirs: { readonly state: string }; log: Logger };

/** A CRI mount as the request carries it (plain JSON of runtime.v1.Mount). */
export type CriImageMount = CriMount & { image?: { image?: string | null } | null; imageSubPath?: string | null };

export const imageVolumesDir = (dirs: { readonly state: string }, sandboxId: string): string => joinWithin(dirs.state, 'image-volumes', sandboxId);

const hexOf = (imageId: string) => imageId.replace(/^sha256:/, '');

/** `err` with the ImageVolumeMountFailed prefix, keeping its kind (NotFound stays NotFound). */
function failed(err: unknown, what: string): BerthError {
  const e = err instanceof BerthError ? err : new InternalError(String(err));
  return new BerthError(e.kind, `${FAILED}: ${what}: ${e.message}`, { cause: err });
}

/** The layers as one read-only mount: the single layer dir bound, or a lower-only overlay. */
function viewMounts(lowers: readonly string[]): Mount[] {
  if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
  return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
}

/** The image's mount for this pod, made when missing; its path. `lowerMap` may swap layer dirs (idmapped ones). */
async function ensureMounted(deps: Deps, sandboxId: string, ref: string, lowerMap: (dirs: string[]) => Promise<string[]>): Promise<string> {
  if (!deps.images.status(ref)) throw new NotFoundError(`image ${JSON.stringify(ref)} not found: pull it first`);
  const { image, lowers } = await deps.images.prepareImageVolume(sandboxId, ref);
  const target = path.join(imageVolumesDir(deps.dirs, sandboxId), hexOf(image.id));
  if (isMountPoint(target)) return target;
  try {
    await mkdir(target, { recursive: true, mode: 0o755 });
    mountAll(viewMounts(await lowerMap(lowers)), target);
  } catch (err) {
    await rm(target, { recursive: true, force: true }).catch(() => undefined);
    await deps.images.removeImageVolume(sandboxId, image.id);
    throw err;
  }
  deps.log.info({ podSandboxId: sandboxId, image: image.id, target }, 'image volume mounted');
  return target;
}

/** image_sub_path inside `root`: relative, every component (symlinks followed) inside it, a directory. */
async function subPathIn(root: string, sub: string): Promise<string> {
  if (sub === '') return root;
  if (sub.startsWith('/')) throw new InvalidArgumentError(`image_sub_path ${JSON.stringify(sub)} must be relative`);
  if (sub.includes('\0')) throw new InvalidArgumentError('image_sub_path contains NUL');
  return resolveDirInside(root, sub.split('/'), `image_sub_path ${JSON.stringify(sub)}`, false);
}

/**
 * The container's mounts with every image volume turned into a bind of its (sub) directory. An
 * image volume needs an empty host_path and readonly (containerd refuses the rest too).
 */
export async function resolveImageVolumes(
  deps: Deps, sandboxId: string, mounts: readonly CriImageMount[], lowerMap: (dirs: string[]) => Promise<string[]> = async (d) => d,
): Promise<CriImageMount[]> {
  const out: CriImageMount[] = [];
  for (const m of mounts) {
    const ref = m.image?.image ?? '';
    if (!m.image) {
      out.push(m);
      continue;
    }
    const what = `image volume ${JSON.stringify(ref)} at ${m.containerPath ?? ''}`;
    try {
      if (ref === '') throw new InvalidArgumentError('image not specified');
      if (m.hostPath) throw new InvalidArgumentError('host_path must be empty');
      if (!m.readonly) throw new InvalidArgumentError('readonly must be true');
      const root = await ensureMounted(deps, sandboxId, ref, lowerMap);
      const hostPath = await subPathIn(root, m.imageSubPath ?? '');
      out.push({ containerPath: m.containerPath, hostPath, readonly: true, selinuxRelabel: m.selinuxRelabel, propagation: m.propagation });
    } catch (err) {
      throw failed(err, what);
    }
  }
  return out;
}

/** Unmounts and releases the pod's image volumes (StopPodSandbox, RemovePodSandbox, restart); idempotent. */
export async function cleanupImageVolumes(deps: Deps, sandboxId: string): Promise<void> {
  const base = imageVolumesDir(deps.dirs, sandboxId);
  let names: string[] = [];
  try {
    names = await readdir(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) unmountAll(path.join(base, name));
  await rm(base, { recursive: true, force: true });
  const views = deps.images.imageVolumes(sandboxId);
  for (const v of views) await deps.images.removeImageVolume(sandboxId, v.imageId);
  if (names.length + views.length === 0) return;
  deps.log.info({ podSandboxId: sandboxId, volumes: views.length }, 'image volumes released');
  // The layers of an image removed while mounted are collectable now (containerd's GC does the same).
  if (views.length > 0) await deps.images.gc();
}

/** After a restart: the image volumes of pods that are gone or no longer ready. */
export async function recoverImageVolumes(deps: Deps, keep: ReadonlySet<string>): Promise<void> {
  const owners = new Set(deps.images.imageVolumes().map((v) => v.owner));
  try {
    for (const name of await readdir(path.join(deps.dirs.state, 'image-volumes'))) owners.add(name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const id of owners) {
    if (!keep.has(id)) await cleanupImageVolumes(deps, id);
  }
}
