// Recursive read-only mounts (CRI Mount.recursive_read_only) with any runc: the spec from
// cri/oci marks such a bind `rro`, as containerd 2.x does. runc learned `rro` only in 1.2
// (mount_setattr with AT_RECURSIVE inside the container); runc 1.1 takes an unknown option as
// mount data, which a bind ignores, so a sub-mount would stay writable. berth therefore stages
// each `rro` source itself before the task exists: a recursive bind under
// <state>/rro/<container id>/<n>, made read-only and private at every level with one
// mount_setattr(AT_RECURSIVE); the spec then binds that staged tree with plain `ro`. A bind copies
// each mount's read-only flag, so runc's copy in the container is read-only all the way down,
// whichever shim and runc run it. The staged mounts go once runc has made its copy (after the
// task is created), or with the container (docs/oci-spec.md "Recursive read-only mounts").
import { lstatSync } from 'node:fs';
import { mkdir, readdir, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { joinWithin, type Logger } from '../../common/index.js';
import { bindRecursiveReadOnly, isErrno, MNT_DETACH, umount2 } from '../../sys/index.js';
import type { OciSpec } from '../oci/index.js';

export const rroDir = (dirs: { state: string }, id: string): string => joinWithin(dirs.state, 'rro', id);

/**
 * The spec with every `rro` bind turned into a plain `ro` bind of a staged read-only tree. A
 * spec without one comes back as it is and nothing is made. On a failure the mounts made so far
 * are released before the error goes up.
 */
export async function stageRecursiveReadOnly(dirs: { state: string }, id: string, spec: OciSpec, log: Logger): Promise<OciSpec> {
  if (!spec.mounts.some((m) => m.options?.includes('rro'))) return spec;
  const dir = rroDir(dirs, id);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const mounts = [];
    for (const [i, m] of spec.mounts.entries()) {
      if (!m.options?.includes('rro')) {
        mounts.push(m);
        continue;
      }
      const staged = path.join(dir, String(i));
      if (lstatSync(m.source ?? '').isDirectory()) await mkdir(staged, { mode: 0o700 });
      else await writeFile(staged, '', { mode: 0o600 });
      bindRecursiveReadOnly(m.source ?? '', staged);
      log.debug({ hostPath: m.source, staged, containerPath: m.destination }, 'recursive read-only mount staged');
      mounts.push({ ...m, source: staged, options: m.options.map((o) => (o === 'rro' ? 'ro' : o)) });
    }
    return { ...spec, mounts };
  } catch (err) {
    await releaseRecursiveReadOnly(dirs, id);
    throw err;
  }
}

/** Unmounts and removes what stageRecursiveReadOnly made for `id`; nothing there is fine. Never removes recursively. */
export async function releaseRecursiveReadOnly(dirs: { state: string }, id: string): Promise<void> {
  const dir = rroDir(dirs, id);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const staged = path.join(dir, name);
    try {
      umount2(staged, MNT_DETACH);
    } catch (err) {
      if (!isErrno(err, 'EINVAL') && !isErrno(err, 'ENOENT')) throw err; // EINVAL: not (or no longer) mounted
    }
    // Only an empty directory or an empty file is left once the mount is gone: rmdir/unlink, never rm -r.
    if (lstatSync(staged).isDirectory()) await rmdir(staged);
    else await unlink(staged);
  }
  await rmdir(dir);
}

/**
 * After a restart: the staged trees of containers that no longer wait for their start (no
 * record any more, or already started) are released; a daemon killed between a staging and its
 * release leaves them behind otherwise.
 */
export async function releaseStaleRecursiveReadOnly(dirs: { state: string }, waiting: (id: string) => boolean, log: Logger): Promise<void> {
  let ids: string[];
  try {
    ids = await readdir(joinWithin(dirs.state, 'rro'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const id of ids) {
    if (waiting(id)) continue;
    await releaseRecursiveReadOnly(dirs, id).then(
      () => log.info({ containerId: id }, 'reload: staged recursive read-only mounts released'),
      (err: unknown) => log.warn({ err, containerId: id }, 'reload: cannot release staged recursive read-only mounts'),
    );
  }
}
