// The few libc calls Node does not offer: lsetxattr, mknod, mount, umount2 (via koffi). koffi
// and libc are loaded at the first call (image unpack, snapshot mounts), not at import: the
// daemon imports this module on its start path, where loading koffi costs ~10 ms.
import { createRequire } from 'node:module';
import type Koffi from 'koffi';
import { InternalError } from '../common/index.js';

type KoffiFn = (...args: unknown[]) => unknown;
let libc: {
  koffi: typeof Koffi; lsetxattr: KoffiFn; mknod: KoffiFn; mount: KoffiFn; umount2: KoffiFn; strerror: KoffiFn; mallocTrim: KoffiFn;
} | undefined;

// errno is read from koffi's per-thread copy right after each call.
function fns(): NonNullable<typeof libc> {
  if (!libc) {
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    const lib = koffi.load('libc.so.6');
    libc = {
      koffi,
      lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
      mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
      mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
      umount2: lib.func('int umount2(const char *target, int flags)'),
      strerror: lib.func('const char *strerror(int errnum)'),
      mallocTrim: lib.func('int malloc_trim(size_t pad)'),
    };
  }
  return libc;
}

/**
 * glibc's malloc_trim(0): hands the free memory of every malloc arena back to the kernel. Node
 * allocates Buffers and ArrayBuffers with malloc; freed, they stay in the process (its PSS)
 * until reused or trimmed. True when some memory was released.
 */
export function mallocTrim(): boolean {
  return fns().mallocTrim(0) === 1;
}

function fail(call: string, target: string): never {
  const f = fns();
  const errno = f.koffi.errno();
  const err = new InternalError(`${call} ${target}: ${String(f.strerror(errno))} (errno ${errno})`);
  (err as unknown as { errno: number }).errno = errno;
  throw err;
}

export function errnoOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? (err as { errno?: number }).errno : undefined;
}

export const ENOTSUP = 95;
export const EPERM = 1;
export const EINVAL = 22;

export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (fns().lsetxattr(path, name, value, value.length, 0) !== 0) fail(`lsetxattr(${name})`, path);
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** Linux makedev for major/minor numbers. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  if (fns().mknod(path, mode, makedev(major, minor)) !== 0) fail('mknod', path);
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  if (fns().mount(source, target, fstype, flags, data) !== 0) fail(`mount(${fstype})`, target);
}

export const MNT_DETACH = 2;

export function umount(target: string, flags = 0): void {
  if (fns().umount2(target, flags) !== 0) fail('umount2', target);
}
