// Reads a file of a container rootfs as the container would see it, without ever leaving the
// rootfs: every symlink on the way is resolved with the rootfs as `/` (an absolute target is
// re-rooted, `..` stops at the root), like containerd's FollowSymlinkInScope.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../common/index.js';

const MAX_LINKS = 40; // the kernel's own limit (ELOOP)

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

/** The file's text, or undefined when it does not exist in the rootfs. */
export function readFileInRoot(root: string, p: string): string | undefined {
  try {
    return readFileSync(resolveInRoot(root, p), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
