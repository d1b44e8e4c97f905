// What a call cut short by a crash made before its record was written (docs/crash-safety.md):
// run at start-up, after the store is loaded and before any call is answered, so an id without a
// record here can only be a leftover. CreateContainer and RunPodSandbox reserve the name first
// and make the rw snapshot (and the container's spec dir) before the record; RemoveContainer and
// RemovePodSandbox delete the record before the name. Also the read-only `view-*` overlays of
// image layers that a spec step mounts for a moment under the state dir.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { unmountAll } from '../../sys/index.js';
import { containerDir } from './container-create.js';
import type { RuntimeDeps } from './deps.js';
import { removeSandboxFiles } from './sandbox-files.js';

type Deps = Pick<RuntimeDeps, 'store' | 'images' | 'dirs' | 'log'>;

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}

/** What was removed, by kind (ids or names), for the log and the tests. */
export interface Leftovers {
  sandboxNames: string[];
  containerNames: string[];
  rootfs: string[];
  containerDirs: string[];
  sandboxDirs: string[];
  views: string[];
}

export async function removeLeftovers(deps: Deps): Promise<Leftovers> {
  const { store } = deps;
  const known = (id: string) => store.sandboxes.has(id) || store.containers.has(id);
  const found: Leftovers = { sandboxNames: [], containerNames: [], rootfs: [], containerDirs: [], sandboxDirs: [], views: [] };
  // The four listings side by side (a restart's thread pool is busy: docs/cri.md "Start-up order").
  const [containerIds, rootPods, statePods, stateNames] = await Promise.all([
    names(path.join(deps.dirs.root, 'containers')), names(path.join(deps.dirs.root, 'sandboxes')),
    names(path.join(deps.dirs.state, 'sandboxes')), names(deps.dirs.state),
  ]);
  for (const [name, id] of store.sandboxNames.entries()) {
    if (store.sandboxes.has(id)) continue;
    await store.sandboxNames.release(name);
    found.sandboxNames.push(name);
  }
  for (const [name, id] of store.containerNames.entries()) {
    if (store.containers.has(id)) continue;
    await store.containerNames.release(name);
    found.containerNames.push(name);
  }
  for (const id of deps.images.rootfsIds()) {
    if (known(id)) continue;
    await deps.images.removeRootfs(id);
    found.rootfs.push(id);
  }
  for (const id of containerIds) {
    if (store.containers.has(id)) continue;
    await rm(containerDir(deps.dirs, id), { recursive: true, force: true });
    found.containerDirs.push(id);
  }
  const podDirs = new Set([...rootPods, ...statePods]);
  for (const id of podDirs) {
    if (store.sandboxes.has(id)) continue;
    await removeSandboxFiles(deps.dirs, id);
    found.sandboxDirs.push(id);
  }
  for (const name of stateNames) {
    if (!name.startsWith('view-')) continue;
    const dir = path.join(deps.dirs.state, name);
    unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
    found.views.push(name);
  }
  const count = Object.values(found).reduce((n, l: string[]) => n + l.length, 0);
  if (count > 0) deps.log.warn({ ...found }, 'reload: removed what calls cut short by a crash left without a record');
  return found;
}
