// sys: the bottom layer above common/ for what Node cannot do by itself as a container runtime:
// libc calls (koffi, loaded lazily on first use), processes started with posix_spawn and reaped
// by a (child-subreaper) reaper that leaves libuv's children alone, pty fd passing, OOM
// notifications, mounts and mountinfo, cgroup stats. See docs/sys.md.
export {
  SyscallError,
  isErrno,
  setChildSubreaper,
  isChildSubreaper,
  pidfdOpen,
  pidfdGetfd,
  pidfdSendSignal,
  waitid,
  kill,
  mount,
  umount2,
  mkfifo,
  mknod,
  mallocTrim,
  eventfd,
  readEventfd,
  writeFd,
  closeFd,
  dupCloexec,
  pipe2,
  setWinsize,
  getWinsize,
  bytesToRead,
  lsetxattr,
  recvFds,
  sendUnixDatagram,
  setns,
  idmappedBind,
  tcpSocket4,
  connectInet4,
  CLONE_NEWNET,
  P_PID,
  P_PIDFD,
  WNOHANG,
  WNOWAIT,
  MNT_DETACH,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  O_CLOEXEC,
  S_IFIFO,
  S_IFCHR,
  S_IFBLK,
  type WaitResult,
} from './libc.js';
export { becomeSubreaper, Reaper, spawnHelper, type ExitInfo, type Expectation, type ReaperOptions, type SpawnedChild } from './reaper.js';
export {
  bindRecursiveReadOnly, mountAll, mountOne, unmountAll, isMountPoint, readMountInfo, parseMountInfo, recursiveReadOnlySupported, type Mount, type MountInfo,
} from './mount.js';
export { ConsoleSocket, openPty, resizePty, type PtyStreams } from './console-socket.js';
export {
  cgroupVersion, cgroupDir, cgroupOfPid, ensureCgroup, removeCgroup, type CgroupRemoval, hostHierarchy, hybridUnifiedRoot, readCgroupStats, readCgroupStatsOfPid, readCgroupLimits, readMemoryEvents,
  parseFlatKeyed, type CgroupHierarchy, type CgroupLimits, type CgroupStats, type CgroupVersion,
} from './cgroups.js';
export { expandSlice, parseCpuMax, parseMax, resolveCgroupPath, sharesToWeight, unifiedPathOf, weightToShares } from './cgroups-v2.js';
export { OomWatcher, type OomWatcherOptions } from './oom.js';
export { runProcess, SpawnError, type RunRequest, type RunResult } from './spawner.js';
