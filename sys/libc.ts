// Typed libc calls through koffi. koffi is a native addon that costs ~7 ms and ~1.4 MiB to load,
// so it is required lazily on the first call: importing sys/ is free for a start path that never
// makes a syscall. Every wrapper throws a SyscallError (a BerthError) naming the errno on failure.
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { BerthError, type ErrorKind } from '../common/index.js';

type KoffiFn = (...args: unknown[]) => number;
interface Koffi {
  load(path: string): { func(proto: string): KoffiFn };
  errno(): number;
  struct(name: string, def: Record<string, string>): unknown;
}

// First name wins for aliases (EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK).
const ERRNO_NAME = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!ERRNO_NAME.has(n)) ERRNO_NAME.set(n, name);

const KIND_OF_ERRNO: Record<string, ErrorKind> = {
  ENOENT: 'not-found',
  ESRCH: 'not-found',
  ECHILD: 'not-found',
  EEXIST: 'already-exists',
  EPERM: 'permission-denied',
  EACCES: 'permission-denied',
  EINVAL: 'invalid-argument',
  EBADF: 'invalid-argument',
  ENOTDIR: 'invalid-argument',
  EBUSY: 'failed-precondition',
  EAGAIN: 'unavailable',
  ENOSYS: 'unimplemented',
  ENOMEM: 'resource-exhausted',
  EMFILE: 'resource-exhausted',
};

/** A failed system call: `errno` is the number, `errnoName` the symbolic name (e.g. "ECHILD"). */
export class SyscallError extends BerthError {
  readonly errno: number;
  readonly errnoName: string;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string) {
    const name = ERRNO_NAME.get(errno) ?? `errno ${errno}`;
    super(KIND_OF_ERRNO[name] ?? 'internal', `${syscall}${detail ? ` ${detail}` : ''}: ${name}`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.errnoName = name;
    this.syscall = syscall;
  }
}

export function isErrno(e: unknown, name: string): boolean {
  return e instanceof SyscallError && e.errnoName === name;
}

// ---- lazy bindings ------------------------------------------------------------------------------

const PROTOTYPES = {
  prctl: 'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  prctlGet: 'int prctl(int option, _Out_ int *value, unsigned long a3, unsigned long a4, unsigned long a5)',
  pidfd_open: 'int pidfd_open(int pid, unsigned int flags)',
  pidfd_send_signal: 'int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)',
  pidfd_getfd: 'int pidfd_getfd(int pidfd, int targetfd, unsigned int flags)',
  waitid: 'int waitid(int idtype, unsigned int id, _Inout_ uint8_t *infop, int options)',
  kill: 'int kill(int pid, int sig)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  mount_setattr: 'int mount_setattr(int dfd, const char *path, unsigned int flags, mount_attr *attr, unsigned long size)',
  mkfifo: 'int mkfifo(const char *path, unsigned int mode)',
  mknod: 'int mknod(const char *path, unsigned int mode, uint64_t dev)',
  malloc_trim: 'int malloc_trim(unsigned long pad)',
  eventfd: 'int eventfd(unsigned int initval, int flags)',
  read: 'long read(int fd, _Out_ uint8_t *buf, unsigned long count)',
  write: 'long write(int fd, const uint8_t *buf, unsigned long count)',
  close: 'int close(int fd)',
  pipe2: 'int pipe2(_Out_ int *fds, int flags)',
  fcntl: 'int fcntl(int fd, int cmd, int arg)',
  ioctl: 'int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)',
  lsetxattr: 'int lsetxattr(const char *path, const char *name, const uint8_t *value, unsigned long size, int flags)',
  recvmsg: 'long recvmsg(int fd, _Inout_ msghdr *msg, int flags)',
  setns: 'int setns(int fd, int nstype)',
  open_tree: 'int open_tree(int dfd, const char *path, unsigned int flags)',
  move_mount: 'int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)',
  connect: 'int connect(int fd, const uint8_t *addr, unsigned int len)',
  socket: 'int socket(int domain, int type, int protocol)',
  sendto: 'long sendto(int fd, const uint8_t *buf, unsigned long len, int flags, const uint8_t *addr, uint32_t addrlen)',
  // posix_spawn(3) and its attribute calls return an error number (0 = success), not -1/errno.
  posix_spawn: 'int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
  posix_spawn_file_actions_init: 'int posix_spawn_file_actions_init(void *actions)',
  posix_spawn_file_actions_destroy: 'int posix_spawn_file_actions_destroy(void *actions)',
  posix_spawn_file_actions_adddup2: 'int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)',
  posix_spawn_file_actions_addopen: 'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, unsigned int mode)',
  posix_spawn_file_actions_addchdir_np: 'int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)',
  posix_spawnattr_init: 'int posix_spawnattr_init(void *attr)',
  posix_spawnattr_destroy: 'int posix_spawnattr_destroy(void *attr)',
  posix_spawnattr_setflags: 'int posix_spawnattr_setflags(void *attr, short flags)',
  posix_spawnattr_setsigdefault: 'int posix_spawnattr_setsigdefault(void *attr, const void *set)',
  posix_spawnattr_setsigmask: 'int posix_spawnattr_setsigmask(void *attr, const void *set)',
  sigemptyset: 'int sigemptyset(void *set)',
  sigaddset: 'int sigaddset(void *set, int sig)',
} as const;
type Name = keyof typeof PROTOTYPES;

let koffiMod: Koffi | undefined;
let lib: { func(proto: string): KoffiFn } | undefined;
const bound = new Map<Name, KoffiFn>();

function koffi(): Koffi {
  if (!koffiMod) {
    koffiMod = createRequire(import.meta.url)('koffi') as Koffi;
    // Structs used by recvmsg (x86_64 / aarch64 LP64 layout; koffi computes the padding).
    koffiMod.struct('iovec', { iov_base: 'void *', iov_len: 'size_t' });
    koffiMod.struct('msghdr', {
      msg_name: 'void *',
      msg_namelen: 'uint32_t',
      msg_iov: 'iovec *',
      msg_iovlen: 'size_t',
      msg_control: 'void *',
      msg_controllen: 'size_t',
      msg_flags: 'int',
    });
    // struct mount_attr of mount_setattr(2) (linux/mount.h, MOUNT_ATTR_SIZE_VER0 = 32 bytes).
    koffiMod.struct('mount_attr', { attr_set: 'uint64_t', attr_clr: 'uint64_t', propagation: 'uint64_t', userns_fd: 'uint64_t' });
  }
  return koffiMod;
}

function fn(name: Name): KoffiFn {
  let f = bound.get(name);
  if (!f) {
    const k = koffi();
    lib ??= k.load('libc.so.6');
    f = lib.func(PROTOTYPES[name]);
    bound.set(name, f);
  }
  return f;
}

/** Calls `name`; a -1 result becomes a SyscallError carrying errno. */
function sys(name: Name, detail: string | undefined, ...args: unknown[]): number {
  const r = fn(name)(...args);
  if (r === -1) throw new SyscallError(name === 'prctlGet' ? 'prctl' : name, koffi().errno(), detail);
  return r;
}

// ---- constants ----------------------------------------------------------------------------------

export const P_PID = 1;
export const P_PIDFD = 3;
export const WNOHANG = 1;
const WEXITED = 4;
export const WNOWAIT = 0x01000000;
export const MNT_DETACH = 2;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const F_DUPFD_CLOEXEC = 1030;
const TIOCSWINSZ = 0x5414;
const TIOCGWINSZ = 0x5413;
const CLD_EXITED = 1;

// ---- wrappers -----------------------------------------------------------------------------------

export function setChildSubreaper(on = true): void {
  sys('prctl', 'PR_SET_CHILD_SUBREAPER', PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
}

export function isChildSubreaper(): boolean {
  const out = [0];
  sys('prctlGet', 'PR_GET_CHILD_SUBREAPER', PR_GET_CHILD_SUBREAPER, out, 0, 0, 0);
  return out[0] !== 0;
}

export function pidfdOpen(pid: number): number {
  return sys('pidfd_open', `pid ${pid}`, pid, 0);
}

/** A duplicate (close-on-exec) of another process's fd `targetfd` (Linux 5.6; ptrace rights). */
export function pidfdGetfd(pidfd: number, targetfd: number): number {
  return sys('pidfd_getfd', `fd ${targetfd}`, pidfd, targetfd, 0);
}

export function pidfdSendSignal(pidfd: number, signal: number): void {
  sys('pidfd_send_signal', `pidfd ${pidfd}`, pidfd, signal, null, 0);
}

/** The outcome of waitid: `status` is the exit code, or 128+signal when killed. */
export interface WaitResult {
  pid: number;
  status: number;
  signaled: boolean;
}

/**
 * waitid(idtype, id, WEXITED | extra). Returns null when WNOHANG was given and the process has
 * not exited yet. Throws SyscallError ECHILD when `id` is not (or no longer) our child.
 */
export function waitid(idtype: number, id: number, options: number): WaitResult | null {
  const info = Buffer.alloc(128); // zeroed: a WNOHANG miss leaves si_pid 0
  sys('waitid', `${idtype === P_PIDFD ? 'pidfd' : 'pid'} ${id}`, idtype, id, info, options | WEXITED);
  const pid = info.readInt32LE(16);
  if (pid === 0) return null;
  const code = info.readInt32LE(8);
  const value = info.readInt32LE(24);
  return code === CLD_EXITED ? { pid, status: value, signaled: false } : { pid, status: 128 + value, signaled: true };
}

export function kill(pid: number, signal: number): void {
  sys('kill', `pid ${pid}`, pid, signal);
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  sys('mount', `${fstype ?? ''} ${source ?? ''} on ${target}`, source, target, fstype, flags, data);
}

export function umount2(target: string, flags: number): void {
  sys('umount2', target, target, flags);
}

const AT_FDCWD = -100;
export const AT_RECURSIVE = 0x8000;
export const MOUNT_ATTR_RDONLY = 0x1;

/** mount_setattr(2) on the mount at `target` (Linux >= 5.12): set/clear MOUNT_ATTR_* flags and the propagation (MS_PRIVATE...). */
export function mountSetattr(target: string, flags: number, attr: { set?: number; clear?: number; propagation?: number }): void {
  const a = { attr_set: attr.set ?? 0, attr_clr: attr.clear ?? 0, propagation: attr.propagation ?? 0, userns_fd: 0 };
  sys('mount_setattr', target, AT_FDCWD, target, flags, a, 32);
}

/** mkfifo(3); the umask applies to `mode` (chmod afterwards for an exact mode). */
export function mkfifo(path: string, mode: number): void {
  sys('mkfifo', path, path, mode);
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** Linux's makedev(3): a device number from its major and minor. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** mknod(2): `mode` is the file type (S_IFIFO, S_IFCHR, S_IFBLK) | permissions; the umask applies. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  sys('mknod', path, path, mode, makedev(major, minor));
}

/**
 * glibc's malloc_trim(0): hands the free memory of every malloc arena back to the kernel. Node
 * allocates Buffers and ArrayBuffers with malloc; freed, they stay in the process (its PSS)
 * until reused or trimmed. True when some memory was released.
 */
export function mallocTrim(): boolean {
  return fn('malloc_trim')(0) === 1;
}

export function eventfd(initval: number, flags: number): number {
  return sys('eventfd', undefined, initval, flags);
}

/**
 * Reads an eventfd's 8-byte counter (which resets it). With EFD_NONBLOCK and a zero counter the
 * kernel says EAGAIN: that is returned as 0n rather than thrown.
 */
export function readEventfd(fd: number): bigint {
  const buf = Buffer.alloc(8);
  const r = fn('read')(fd, buf, 8);
  if (r === -1) {
    const e = koffi().errno();
    if (ERRNO_NAME.get(e) === 'EAGAIN') return 0n;
    throw new SyscallError('read', e, `eventfd ${fd}`);
  }
  return buf.readBigUInt64LE(0);
}

export function writeFd(fd: number, data: Buffer): number {
  return sys('write', `fd ${fd}`, fd, data, data.length);
}

export function closeFd(fd: number): void {
  sys('close', `fd ${fd}`, fd);
}

/**
 * pipe2(2): [read end, write end], close-on-exec by default. A container's stdin must be a real
 * pipe whose write end the shim keeps (CloseIO = close it = EOF), which child_process cannot give:
 * it destroys a child's stdin pipe when the child (runc) exits.
 */
export function pipe2(flags = O_CLOEXEC): [number, number] {
  const fds = new Int32Array(2);
  sys('pipe2', undefined, fds, flags);
  return [fds[0] as number, fds[1] as number];
}

/** dup with FD_CLOEXEC set on the copy. */
export function dupCloexec(fd: number): number {
  return sys('fcntl', `F_DUPFD_CLOEXEC ${fd}`, fd, F_DUPFD_CLOEXEC, 3);
}

export function setWinsize(fd: number, size: { rows: number; cols: number }): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(size.rows, 0);
  ws.writeUInt16LE(size.cols, 2);
  sys('ioctl', `TIOCSWINSZ fd ${fd}`, fd, TIOCSWINSZ, ws);
}

export function getWinsize(fd: number): { rows: number; cols: number } {
  const ws = Buffer.alloc(8);
  sys('ioctl', `TIOCGWINSZ fd ${fd}`, fd, TIOCGWINSZ, ws);
  return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
}

const FIONREAD = 0x541b;

/** Bytes waiting to be read in a pipe, FIFO or socket (ioctl FIONREAD). */
export function bytesToRead(fd: number): number {
  const n = Buffer.alloc(4);
  sys('ioctl', `FIONREAD fd ${fd}`, fd, FIONREAD, n);
  return n.readInt32LE(0);
}

export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  sys('lsetxattr', `${name} on ${path}`, path, name, value, value.length, flags);
}

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_CMSG_CLOEXEC = 0x40000000;

/**
 * One recvmsg on a stream socket expecting a single SCM_RIGHTS fd. Returns the payload and the
 * received fds (close-on-exec when MSG_CMSG_CLOEXEC is in `flags`).
 */
export function recvFds(sockFd: number, flags: number, maxData = 4096): { data: Buffer; fds: number[] } {
  const data = Buffer.alloc(maxData);
  const control = Buffer.alloc(64);
  const msg = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: data.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control.length,
    msg_flags: 0,
  };
  const n = sys('recvmsg', `fd ${sockFd}`, sockFd, msg, flags);
  const fds: number[] = [];
  // cmsghdr: size_t cmsg_len; int cmsg_level; int cmsg_type; then data, each header 8-aligned.
  let off = 0;
  const used = Number(msg.msg_controllen);
  while (off + 16 <= used) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16) break;
    const level = control.readInt32LE(off + 8);
    const type = control.readInt32LE(off + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += (len + 7) & ~7;
  }
  return { data: data.subarray(0, n), fds };
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_BYTES = 108;

/**
 * One datagram to the unix datagram socket `path` (a leading '@' names an abstract socket), from
 * a socket made for it. Node has no unix datagram sockets; systemd's notify socket is one
 * (docs/systemd.md). MSG_DONTWAIT: a receiver that does not read makes this fail with EAGAIN
 * instead of blocking the event loop.
 */
export function sendUnixDatagram(path: string, data: Buffer): void {
  const name = Buffer.from(path.startsWith('@') ? `\0${path.slice(1)}` : path);
  if (name.length === 0 || name.length >= SUN_PATH_BYTES) throw new SyscallError('sendto', constants.errno.ENAMETOOLONG, path);
  // sockaddr_un: sa_family_t (host order), then the name; a path name ends with its NUL, an abstract one does not
  const addr = Buffer.alloc(2 + SUN_PATH_BYTES);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const addrLen = 2 + name.length + (path.startsWith('@') ? 0 : 1);
  const fd = sys('socket', 'AF_UNIX SOCK_DGRAM', AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    sys('sendto', path, fd, data, data.length, MSG_DONTWAIT, addr, addrLen);
  } finally {
    fn('close')(fd);
  }
}

const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const MOUNT_ATTR_IDMAP = 0x00100000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;

/**
 * An idmapped bind mount of `source` (a file or directory) at `target` (an existing one of the
 * same type): open_tree(OPEN_TREE_CLONE) detaches a copy of the mount, mount_setattr gives it the
 * id mapping of the user namespace `usernsFd` refers to (MOUNT_ATTR_IDMAP), move_mount attaches it.
 * The filesystem must allow idmapped mounts (ext4, xfs, btrfs, tmpfs on 6.3+; not overlayfs).
 */
export function idmappedBind(source: string, target: string, usernsFd: number): void {
  const tree = sys('open_tree', source, AT_FDCWD, source, OPEN_TREE_CLONE | O_CLOEXEC);
  try {
    const attr = { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: usernsFd };
    sys('mount_setattr', source, tree, '', AT_EMPTY_PATH, attr, 32);
    sys('move_mount', target, tree, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
  } finally {
    fn('close')(tree);
  }
}

/** setns(2): moves the calling thread (only it) into the namespace `fd` refers to. */
export function setns(fd: number, nstype: number): void {
  sys('setns', `fd ${fd}`, fd, nstype);
}

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;

/** A non-blocking, close-on-exec IPv4 TCP socket, in the network namespace of the calling thread. */
export function tcpSocket4(): number {
  return sys('socket', 'AF_INET SOCK_STREAM', AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/**
 * connect(2) of a socket to an IPv4 address (dotted quad). false: a non-blocking connect is still
 * in progress (EINPROGRESS); any other failure throws.
 */
export function connectInet4(fd: number, address: string, port: number): boolean {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new BerthError('invalid-argument', `not an IPv4 address: ${address}`);
  const sa = Buffer.alloc(16); // sockaddr_in: family (host order), port and address (network order)
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  Buffer.from(octets).copy(sa, 4);
  if (fn('connect')(fd, sa, sa.length) === 0) return true;
  const e = koffi().errno();
  if (ERRNO_NAME.get(e) === 'EINPROGRESS') return false;
  throw new SyscallError('connect', e, `${address}:${port}`);
}

// ---- posix_spawn --------------------------------------------------------------------------------

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDONLY = 0;
const O_WRONLY = 1;
// glibc's opaque types, with room to spare (x86_64: 80, 336 and 128 bytes).
const FILE_ACTIONS_BYTES = 256;
const SPAWNATTR_BYTES = 512;
const SIGSET_BYTES = 128;

/** A call of the posix_spawn family: a non-zero result is the error number. */
function spawnCall(name: Name, detail: string | undefined, ...args: unknown[]): void {
  const r = fn(name)(...args);
  if (r !== 0) throw new SyscallError(name, r, detail);
}

export interface PosixSpawnOptions {
  /** The child's fds 0-2: an fd of ours (dup'ed onto it), or 'null' for /dev/null. */
  stdio: readonly [number | 'null', number | 'null', number | 'null'];
  cwd?: string;
  /** Own session (and so process group), like Node's `detached`. */
  setsid?: boolean;
}

/**
 * posix_spawn(3): glibc starts the child with clone(CLONE_VM | CLONE_VFORK), so, unlike fork(),
 * nothing copies the caller's memory map and only the calling thread waits, until the exec
 * (~0.5 ms here, against 6-11 ms for Node's spawn). Signal dispositions the caller ignores (Node
 * ignores SIGPIPE) and its signal mask are reset, as libuv does after a fork. The child is ours to
 * reap: waitid(P_PID, pid, WNOHANG) (libuv only waits for the pids it spawned). Exec failures
 * (ENOENT, EACCES) are returned by the call itself.
 */
export function posixSpawn(file: string, argv: readonly string[], env: NodeJS.ProcessEnv, o: PosixSpawnOptions): number {
  const envp = Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`);
  const actions = Buffer.alloc(FILE_ACTIONS_BYTES);
  const attr = Buffer.alloc(SPAWNATTR_BYTES);
  spawnCall('posix_spawn_file_actions_init', undefined, actions);
  try {
    spawnCall('posix_spawnattr_init', undefined, attr);
    try {
      o.stdio.forEach((fd, i) => {
        if (fd === 'null') spawnCall('posix_spawn_file_actions_addopen', '/dev/null', actions, i, '/dev/null', i === 0 ? O_RDONLY : O_WRONLY, 0);
        else spawnCall('posix_spawn_file_actions_adddup2', `fd ${i}`, actions, fd, i);
      });
      if (o.cwd !== undefined) spawnCall('posix_spawn_file_actions_addchdir_np', o.cwd, actions, o.cwd);
      const none = Buffer.alloc(SIGSET_BYTES);
      const all = Buffer.alloc(SIGSET_BYTES);
      spawnCall('sigemptyset', undefined, none);
      spawnCall('sigemptyset', undefined, all);
      // 1-64 but SIGKILL and SIGSTOP (cannot be changed) and glibc's own 32/33 (refused)
      for (let sig = 1; sig <= 64; sig++) if (sig !== 9 && sig !== 19 && sig !== 32 && sig !== 33) fn('sigaddset')(all, sig);
      spawnCall('posix_spawnattr_setsigmask', undefined, attr, none);
      spawnCall('posix_spawnattr_setsigdefault', undefined, attr, all);
      const flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (o.setsid ? POSIX_SPAWN_SETSID : 0);
      spawnCall('posix_spawnattr_setflags', undefined, attr, flags);
      const pid = [0];
      spawnCall('posix_spawn', file, pid, file, actions, attr, [...argv, null], [...envp, null]);
      return pid[0] as number;
    } finally {
      fn('posix_spawnattr_destroy')(attr);
    }
  } finally {
    fn('posix_spawn_file_actions_destroy')(actions);
  }
}
