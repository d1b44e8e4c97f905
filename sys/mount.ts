// Mounts as containerd describes them ({type, source, options[]}, e.g. the overlay of a rootfs
// snapshot or a bind), applied with mount(2), and their removal. Options that are mount flags
// (ro, nosuid, rbind, …) become flags; propagation options (rprivate, …) a second mount call;
// everything else is the fs data string (lowerdir=…, upperdir=…). A read-only bind needs a
// remount, because the kernel ignores MS_RDONLY on the first MS_BIND call.
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../common/index.js';
import { AT_RECURSIVE, MOUNT_ATTR_RDONLY, isErrno, mount, mountSetattr, umount2, MNT_DETACH } from './libc.js';

/** containerd's Mount (CreateTaskRequest.rootfs, a snapshot's mounts): `{type, source, options}`. */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_SYNCHRONOUS = 0x10;
const MS_REMOUNT = 0x20;
const MS_MANDLOCK = 0x40;
const MS_DIRSYNC = 0x80;
const MS_NOATIME = 0x400;
const MS_NODIRATIME = 0x800;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_UNBINDABLE = 1 << 17;
const MS_PRIVATE = 1 << 18;
const MS_SLAVE = 1 << 19;
const MS_SHARED = 1 << 20;
const MS_RELATIME = 1 << 21;
const MS_STRICTATIME = 1 << 24;

// [clear?, flag]: "rw" clears MS_RDONLY, "ro" sets it.
const FLAG_OPTIONS: Record<string, [boolean, number]> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  sync: [false, MS_SYNCHRONOUS],
};

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

// The kernel copies at most one page of mount data.
const MAX_DATA = 4095;

interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string;
}

function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f) flags = f[0] ? flags & ~f[1] : flags | f[1];
    else if (PROPAGATION[o] !== undefined) propagation |= PROPAGATION[o];
    else data.push(o);
  }
  return { flags, propagation, data: data.join(',') };
}

/** Applies one mount onto `target`. */
export function mountOne(m: Mount, target: string): void {
  if (!m.type) throw new InvalidArgumentError(`mount onto ${target}: empty type`);
  const { flags, propagation, data } = parseMountOptions(m.options);
  if (data.length > MAX_DATA) {
    throw new InvalidArgumentError(`mount ${m.type} onto ${target}: options are ${data.length} bytes, the kernel takes at most ${MAX_DATA}`);
  }
  const isBind = (flags & MS_BIND) !== 0;
  const fstype = m.type === 'bind' ? null : m.type;
  mount(m.source, target, fstype, flags, data === '' ? null : data);
  // A bind mount ignores the other flags on creation; apply them with a remount.
  if (isBind && (flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) !== 0) {
    mount(null, target, null, (flags & ~MS_REC) | MS_REMOUNT | MS_BIND, null);
  }
  if (propagation !== 0) mount(null, target, null, propagation, null);
}

/** Applies `mounts` in order onto `target`; on a failure the earlier ones are undone. */
export function mountAll(mounts: readonly Mount[], target: string): void {
  let done = 0;
  try {
    for (const m of mounts) {
      mountOne(m, target);
      done++;
    }
  } catch (e) {
    for (; done > 0; done--) {
      try {
        umount2(target, MNT_DETACH);
      } catch {
        // best effort: the original error is what matters
      }
    }
    throw e;
  }
}

/** One line of /proc/<pid>/mountinfo (proc(5)). */
export interface MountInfo {
  id: number;
  parentId: number;
  mountPoint: string;
  /** Per-mount options (field 6). */
  options: string;
  /** The optional fields (propagation), e.g. `shared:1 master:2`; '' when none. */
  optional: string;
  fsType: string;
  source: string;
  /** Per-superblock options (last field): for cgroup v1 mounts, the controllers. */
  superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mountinfo text `text`, one entry per line, in the kernel's order (later entries stack on earlier). */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      mountPoint: unescapeMountPath(f[4] ?? ''),
      options: f[5] ?? '',
      optional: f.slice(6, sep).join(' '),
      fsType: f[sep + 1] ?? '',
      source: unescapeMountPath(f[sep + 2] ?? ''),
      superOptions: f[sep + 3] ?? '',
    });
  }
  return out;
}

export function readMountInfo(file = '/proc/self/mountinfo'): MountInfo[] {
  return parseMountInfo(readFileSync(file, 'utf8'));
}

function resolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function isMountPoint(p: string): boolean {
  const target = resolved(p);
  return readMountInfo().some((m) => m.mountPoint === target);
}

/**
 * Unmounts everything at or below `target`, deepest first, including stacked mounts. Tolerates a
 * target that is not mounted or does not exist; falls back to MNT_DETACH when a mount is busy.
 */
export function unmountAll(target: string): void {
  const root = resolved(target);
  for (let round = 0; round < 100; round++) {
    const under = readMountInfo()
      .filter((m) => m.mountPoint === root || m.mountPoint.startsWith(root === '/' ? '/' : `${root}/`))
      .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
    const first = under[0];
    if (!first) return;
    try {
      umount2(first.mountPoint, 0);
    } catch (e) {
      if (isErrno(e, 'EBUSY')) umount2(first.mountPoint, MNT_DETACH);
      else if (!isErrno(e, 'EINVAL') && !isErrno(e, 'ENOENT')) throw e;
      else return; // listed but not a mount point for us (another namespace's view): nothing to do
    }
  }
}

/**
 * Binds `source` (and every mount below it) onto `target`, then makes the whole new tree
 * read-only and private with one mount_setattr(AT_RECURSIVE): what runc >= 1.2 does for the OCI
 * `rro` option, for runtimes that lack it. A bind of this tree copies each mount's read-only
 * flag, so the copy runc makes into a container is read-only at every level (docs/oci-spec.md).
 * On failure nothing stays mounted on `target`.
 */
export function bindRecursiveReadOnly(source: string, target: string): void {
  mount(source, target, null, MS_BIND | MS_REC, null);
  try {
    mountSetattr(target, AT_RECURSIVE, { set: MOUNT_ATTR_RDONLY, propagation: MS_PRIVATE });
  } catch (e) {
    umount2(target, MNT_DETACH);
    throw e;
  }
}

let rroProbe: boolean | undefined;

/** True when the kernel has mount_setattr(2) (Linux >= 5.12): a no-op call on / answers it. */
export function recursiveReadOnlySupported(): boolean {
  if (rroProbe === undefined) {
    try {
      mountSetattr('/', 0, {});
      rroProbe = true;
    } catch (e) {
      if (!isErrno(e, 'ENOSYS')) throw e;
      rroProbe = false;
    }
  }
  return rroProbe;
}
