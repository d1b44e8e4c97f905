// The modes of the daemon's root and state dirs, as containerd sets them (docs/security.md): root
// and state 0711 (a local user may pass through to a path it was handed, never list), and every
// store under the root 0700 (CRI records with their environment, unpacked snapshots that may hold
// setuid files and device nodes, content blobs, level dbs, bundles). Made at every start, so an
// install made before these modes, or a dir changed by hand, is fixed by a restart.
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../common/index.js';

export const TOP_DIR_MODE = 0o711;
export const PRIVATE_DIR_MODE = 0o700;

async function ensureMode(dir: string, mode: number, log: Logger): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  const was = (await stat(dir)).mode & 0o7777;
  if (was === mode) return;
  await chmod(dir, mode);
  log.info({ dir, was: was.toString(8), now: mode.toString(8) }, 'directory mode tightened');
}

/**
 * Makes `root` and `state` 0711 and each of `stores` (dirs under the root), plus every other dir
 * found directly under the root, 0700. A dir under the root that holds the state dir or a socket
 * clients use (`keepOpen`) is left as it is. Runs before any store opens.
 */
export async function secureDaemonDirs(
  root: string, state: string, stores: readonly string[], log: Logger, keepOpen: readonly string[] = [],
): Promise<void> {
  await ensureMode(root, TOP_DIR_MODE, log);
  await ensureMode(state, TOP_DIR_MODE, log);
  for (const dir of stores) await ensureMode(dir, PRIVATE_DIR_MODE, log);
  const holds = (dir: string, p: string) => p === dir || p.startsWith(dir + path.sep);
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const dir = path.join(root, entry.name);
    if (!entry.isDirectory() || [state, ...keepOpen].some((p) => holds(dir, path.resolve(p)))) continue;
    await ensureMode(dir, PRIVATE_DIR_MODE, log);
  }
}
