// A TCP connection to 127.0.0.1:<port> inside a pod's network namespace, made by the daemon
// itself (docs/streaming.md, "Port-forward"). A socket belongs for good to the network namespace
// of the thread that created it, so the daemon's thread enters the pod's namespace for one
// socket(2) call and returns to its own at once: no JavaScript runs in between, and the socket is
// then connected and served by the daemon's event loop like any other.
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { CLONE_NEWNET, closeFd, connectInet4, setns, tcpSocket4 } from '../../sys/index.js';

/** The daemon thread's own network namespace, opened on first use (before it ever leaves it). */
let ownNetns: number | undefined;

/**
 * A non-blocking TCP socket created inside the namespace at `netnsPath`. The thread is back in
 * its own namespace when this returns or throws; if it could not get back, nothing the daemon
 * opens afterwards would be where it belongs, so the process exits.
 */
export function tcpSocketIn(netnsPath: string): number {
  // (libuv opens every file close-on-exec)
  ownNetns ??= openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(netnsPath, 'r');
  try {
    setns(target, CLONE_NEWNET);
    try {
      return tcpSocket4();
    } finally {
      try {
        setns(ownNetns, CLONE_NEWNET);
      } catch (err) {
        process.stderr.write(`berth: cannot return to the daemon's network namespace after entering ${netnsPath}: ${(err as Error).message}\n`);
        process.exit(70);
      }
    }
  } finally {
    closeSync(target);
  }
}

/**
 * Connects to 127.0.0.1:`port` inside the namespace at `netnsPath` and hands the connection to
 * Node. A non-blocking connect is mostly still in progress when the call returns (even on
 * loopback) and is handed over as it is: the kernel holds writes until it completes, and a
 * refusal surfaces as the socket's error (`read ECONNREFUSED`).
 */
export function connectInNetns(netnsPath: string, port: number): net.Socket {
  const fd = tcpSocketIn(netnsPath);
  try {
    connectInet4(fd, '127.0.0.1', port);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}
