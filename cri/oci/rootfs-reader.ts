// Reads a file of a container rootfs as the container would see it, without ever leaving the
// rootfs: every symlink on the way is resolved with the rootfs as `/` (an absolute target is
// re-rooted, `..` stops at the root), like containerd's FollowSymlinkInScope.
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../common/index.js';

const MAX_LINKS = 40; // the kernel's own limit (ELOOP)
/** Larger than any sane /etc/passwd or /etc/group; an image cannot make the daemon read more. */
export const MAX_ROOTFS_FILE_SIZE = 4 * 1024 * 1024;

/** The host path that `p` (a path inside the container) names, resolved inside `root`. */
export function resolveInRoot(root: string, p: string): string {
  const base = path.resolve(root);
  let pending = p.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(base, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      isLink = false; // missing: the rest is joined as is, the read reports ENOENT
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new InvalidArgumentError(`too many symlinks resolving ${p} in ${root}`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...pending];
  }
  return path.join(base, ...done);
}

/**
 * The file's text, or undefined when it does not exist in the rootfs. Only a regular file of at
 * most MAX_ROOTFS_FILE_SIZE bytes is read (InvalidArgumentError otherwise): the image decides
 * what sits at the path, and a FIFO would block the daemon's thread at open, a device like
 * /dev/zero would never end. O_NONBLOCK keeps the open itself from blocking on a FIFO.
 */
export function readFileInRoot(root: string, p: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(resolveInRoot(root, p), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InvalidArgumentError(`${p} in the image rootfs is not a regular file`);
    if (st.size > MAX_ROOTFS_FILE_SIZE) {
      throw new InvalidArgumentError(`${p} in the image rootfs is ${st.size} bytes, more than ${MAX_ROOTFS_FILE_SIZE}`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
