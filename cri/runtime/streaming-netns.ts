// A TCP connection to 127.0.0.1:<port> inside a pod's network namespace, made by the daemon
// itself (docs/streaming.md, "Port-forward"). A socket belongs for good to the network namespace
// of the thread that created it, so the daemon's thread enters the pod's namespace for one
// socket(2) call and returns to its own at once: no JavaScript runs in between, and the socket is
// then connected and served by the daemon's event loop like any other.
//
// The three calls go through koffi (Node has none of them). They belong with the other libc
// calls in sys/libc.ts; they live here until that layer takes them.
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { SyscallError, closeFd } from '../../sys/index.js';

const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EINPROGRESS = 115;

interface NetnsCalls {
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  errno(): number;
}

let calls: NetnsCalls | undefined;
function libc(): NetnsCalls {
  if (!calls) {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(path: string): { func(proto: string): (...args: unknown[]) => number };
      errno(): number;
    };
    const lib = koffi.load('libc.so.6');
    const setns = lib.func('int setns(int fd, int nstype)');
    const socket = lib.func('int socket(int domain, int type, int protocol)');
    const connect = lib.func('int connect(int fd, const uint8_t *addr, uint32_t len)');
    calls = { setns: (fd, t) => setns(fd, t), socket: (d, t, p) => socket(d, t, p), connect: (fd, a, l) => connect(fd, a, l), errno: () => koffi.errno() };
  }
  return calls;
}

/** The daemon thread's own network namespace, opened on first use (before it ever leaves it). */
let ownNetns: number | undefined;

/**
 * A non-blocking TCP socket created inside the namespace at `netnsPath`. The thread is back in
 * its own namespace when this returns or throws; if it could not get back, nothing the daemon
 * opens afterwards would be where it belongs, so the process exits.
 */
export function tcpSocketIn(netnsPath: string): number {
  const c = libc();
  // (libuv opens every file close-on-exec)
  ownNetns ??= openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(netnsPath, 'r');
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) throw new SyscallError('setns', c.errno(), netnsPath);
    const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const socketErrno = fd < 0 ? c.errno() : 0;
    if (c.setns(ownNetns, CLONE_NEWNET) !== 0) {
      process.stderr.write(`berth: cannot return to the daemon's network namespace after entering ${netnsPath}; exiting\n`);
      process.exit(70);
    }
    if (fd < 0) throw new SyscallError('socket', socketErrno, `in ${netnsPath}`);
    return fd;
  } finally {
    closeSync(target);
  }
}

/** sockaddr_in for 127.0.0.1:port. */
function loopback(port: number): Buffer {
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_INET, 0);
  addr.writeUInt16BE(port, 2);
  addr.writeUInt32BE(0x7f000001, 4);
  return addr;
}

/**
 * Connects to 127.0.0.1:`port` inside the namespace at `netnsPath` and hands the connection to
 * Node. Loopback connects finish (or are refused) within the call; one still in progress is
 * handed over as it is: the kernel holds writes until it completes, and a refusal then surfaces
 * as the socket's error.
 */
export function connectInNetns(netnsPath: string, port: number): net.Socket {
  const fd = tcpSocketIn(netnsPath);
  const c = libc();
  if (c.connect(fd, loopback(port), 16) !== 0) {
    const errno = c.errno();
    if (errno !== EINPROGRESS) {
      closeFd(fd);
      throw new SyscallError('connect', errno, `127.0.0.1:${port} in ${netnsPath}`);
    }
  }
  return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}
