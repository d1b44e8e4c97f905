// Volumes an image declares (`VOLUME` in its config, `config.Volumes`), as containerd's CRI plugin
// makes them: each path a CRI mount does not already cover gets a directory of its own under the
// container's dir (`volumes/<random>`), filled with what the image has at that path (owners,
// modes and times kept), and bound read-write at the path. Removed with the container's dir.
// `ignore_image_defined_volumes = true` turns them off (docs/oci-spec.md, "Image-defined volumes").
import { copyFile, lchown, lstat, lutimes, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { chmod, chown, utimes } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, joinWithin, randomBytes, type Logger } from '../../common/index.js';
import { cleanContainerPath as clean, resolveInRoot, type CriMount, type PodUserns } from '../oci/index.js';

/** The image config's `Volumes` (an object whose keys are paths), as pulled. */
export type ImageVolumes = Readonly<Record<string, unknown>> | null | undefined;

/** The image's volume paths a CRI mount does not cover, cleaned and in a stable order. */
export function uncoveredVolumes(volumes: ImageVolumes, criMounts: readonly CriMount[]): string[] {
  const covered = new Set(criMounts.map((m) => clean(m.containerPath ?? '')));
  const out = new Set<string>();
  for (const raw of Object.keys(volumes ?? {}).sort()) {
    if (!raw.startsWith('/')) throw new InvalidArgumentError(`the image declares volume ${JSON.stringify(raw)}, which is not an absolute path`);
    const dst = clean(raw);
    if (!covered.has(dst)) out.add(dst);
  }
  return [...out];
}

/** Host owner of an image file: the same ids, or shifted into a pod's user namespace mappings. */
type Owner = (uid: number, gid: number) => [number, number];
function ownerFor(userns: PodUserns | undefined): Owner {
  if (!userns) return (uid, gid) => [uid, gid];
  const shift = (id: number, m: PodUserns['uid']) => (id >= m.containerId && id - m.containerId < m.length ? m.hostId + id - m.containerId : id);
  return (uid, gid) => [shift(uid, userns.uid), shift(gid, userns.gid)];
}

/**
 * Makes one host directory per uncovered image volume under `<containerDir>/volumes`, filled from
 * `root` (a read-only view of the image), and returns them as read-write CRI mounts. In a pod with
 * a user namespace the owners are moved into its mappings, so the container sees the image's.
 */
export async function prepareImageVolumes(
  root: string, volumes: ImageVolumes, criMounts: readonly CriMount[], containerDir: string, log: Logger, userns?: PodUserns,
): Promise<CriMount[]> {
  const owner = ownerFor(userns);
  const paths = uncoveredVolumes(volumes, criMounts);
  const out: CriMount[] = [];
  for (const containerPath of paths) {
    const hostPath = joinWithin(containerDir, 'volumes', randomBytes(8).toString('hex'));
    await mkdir(path.dirname(hostPath), { recursive: true, mode: 0o700 });
    // the image's own content at the path, with every symlink on the way resolved inside the image
    const from = resolveInRoot(root, containerPath);
    const st = await lstat(from).catch(() => undefined);
    if (st?.isDirectory()) await copyTree(from, hostPath, owner, log);
    else {
      await mkdir(hostPath, { mode: 0o755 });
      await chown(hostPath, ...owner(0, 0));
    }
    out.push({ containerPath, hostPath, readonly: false });
  }
  if (out.length > 0) log.debug({ volumes: out.map((m) => m.containerPath) }, 'image-defined volumes prepared');
  return out;
}

/** Copies a directory tree keeping owners, modes and times; device nodes, FIFOs and sockets are left out. */
async function copyTree(from: string, to: string, owner: Owner, log: Logger): Promise<void> {
  const st = await lstat(from);
  await mkdir(to, { mode: 0o700 });
  for (const name of await readdir(from)) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const s = await lstat(src);
    if (s.isDirectory()) await copyTree(src, dst, owner, log);
    else if (s.isFile()) {
      await copyFile(src, dst);
      await keepAttributes(dst, s, owner);
    } else if (s.isSymbolicLink()) {
      await symlink(await readlink(src), dst);
      await lchown(dst, ...owner(s.uid, s.gid));
      await lutimes(dst, s.atime, s.mtime);
    } else log.debug({ path: src }, 'image volume: special file not copied');
  }
  await keepAttributes(to, st, owner);
}

async function keepAttributes(p: string, s: { uid: number; gid: number; mode: number; atime: Date; mtime: Date }, owner: Owner): Promise<void> {
  await chown(p, ...owner(s.uid, s.gid));
  await chmod(p, s.mode & 0o7777); // after chown, which clears setuid/setgid
  await utimes(p, s.atime, s.mtime);
}
