// Path resolution inside a layer root. Entry names may not be absolute or contain `..`; parent
// directories are resolved with symlinks followed but kept inside the root (an absolute link
// target means `<root>/target`, as in the container; a relative one may not climb above the
// root). The last component is never followed. Anything else is an InvalidArgumentError.
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../common/index.js';

const MAX_SYMLINKS = 40;

/** Splits a tar entry name into components; refuses absolute names, `..` and NUL. */
export function entryComponents(name: string, what: string): string[] {
  if (name.includes('\0')) throw new InvalidArgumentError(`${what}: name contains NUL`);
  if (name.startsWith('/')) throw new InvalidArgumentError(`${what}: absolute path ${JSON.stringify(name)} refused`);
  const comps = name.split('/').filter((c) => c !== '' && c !== '.');
  if (comps.includes('..')) throw new InvalidArgumentError(`${what}: path ${JSON.stringify(name)} contains '..'`);
  return comps;
}

async function lstatOrUndefined(p: string) {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Resolves the directory `comps` inside `root` (a real directory path), following symlinks within
 * the root. Missing directories are created 0755 when `create` is set, else NotFound-like
 * InvalidArgumentError. Returns the real path of the directory.
 */
export async function resolveDirInside(root: string, comps: readonly string[], what: string, create: boolean): Promise<string> {
  const stack: string[] = [];
  const queue = [...comps];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (stack.length === 0) throw new InvalidArgumentError(`${what}: a symlink on the path leads outside the layer root`);
      stack.pop();
      continue;
    }
    const p = path.join(root, ...stack, c);
    const st = await lstatOrUndefined(p);
    if (!st) {
      if (!create) throw new InvalidArgumentError(`${what}: ${path.join(...stack, c)} does not exist`);
      await fs.mkdir(p, { mode: 0o755 });
      stack.push(c);
    } else if (st.isDirectory()) {
      stack.push(c);
    } else if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new InvalidArgumentError(`${what}: too many levels of symbolic links`);
      const target = await fs.readlink(p);
      const tcomps = target.split('/');
      if (target.startsWith('/')) {
        // Absolute: relative to the layer root; `..` at the root stays at the root.
        stack.length = 0;
        const clamped: string[] = [];
        for (const t of tcomps) {
          if (t === '..') clamped.pop();
          else if (t !== '' && t !== '.') clamped.push(t);
        }
        queue.unshift(...clamped);
      } else {
        queue.unshift(...tcomps);
      }
    } else {
      throw new InvalidArgumentError(`${what}: ${path.join(...stack, c)} is not a directory`);
    }
  }
  return path.join(root, ...stack);
}

/** Parent directory (resolved, created if missing) and final name of an entry. */
export async function resolveEntry(root: string, comps: readonly string[], what: string): Promise<{ dir: string; name: string; full: string }> {
  const name = comps[comps.length - 1]!;
  const dir = await resolveDirInside(root, comps.slice(0, -1), what, true);
  return { dir, name, full: path.join(dir, name) };
}

/**
 * True when `full` (a path under `root`) is reached from `root` through real directories only,
 * no symlink on the way, and is itself the directory with inode `ino`.
 */
export async function isRealDirInside(root: string, full: string, ino: number): Promise<boolean> {
  const rel = path.relative(root, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return false;
  let p = root;
  let st;
  for (const c of rel.split(path.sep)) {
    p = path.join(p, c);
    st = await lstatOrUndefined(p);
    if (!st?.isDirectory()) return false;
  }
  return st?.ino === ino;
}
