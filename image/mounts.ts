// Mount descriptions (the containerd `Mount` shape handed to shims in CreateTaskRequest.rootfs)
// and a helper to mount/unmount them on a target directory for callers that want a rootfs now.
import fs from 'node:fs';
import { InvalidArgumentError } from '../common/index.js';
import { MNT_DETACH, mount, umount } from './syscalls.js';

export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

const MS_RDONLY = 0x1;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;

/** True when the kernel's overlay module has an `index` parameter (containerd then adds `index=off`). */
export const overlayHasIndexParam = fs.existsSync('/sys/module/overlay/parameters/index');

/** Mounts `mounts` in order on `target` (overlay, or bind with rbind/ro options). */
export function mountAll(mounts: readonly Mount[], target: string): void {
  for (const m of mounts) {
    if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
      const rec = m.options.includes('rbind') ? MS_REC : 0;
      mount(m.source, target, '', MS_BIND | rec, '');
      if (m.options.includes('ro')) mount('', target, '', MS_BIND | MS_RDONLY | 0x20 /* MS_REMOUNT */ | rec, '');
    } else if (m.type === 'overlay') {
      mount(m.source, target, 'overlay', 0, m.options.join(','));
    } else {
      throw new InvalidArgumentError(`mount type ${JSON.stringify(m.type)} is not supported`);
    }
  }
}

/** Unmounts `target` (lazily if it stays busy). Not mounted is not an error. */
export function unmountAll(target: string): void {
  for (let i = 0; i < 10; i++) {
    try {
      umount(target);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno === 22 /* EINVAL: not a mount point */ || errno === 2 /* ENOENT */) return;
      if (errno === 16 /* EBUSY */ && i < 9) continue;
      umount(target, MNT_DETACH);
      return;
    }
  }
}
