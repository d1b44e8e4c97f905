// Receiving the pty master from `runc create --console-socket <path>`. runc connects to a unix
// stream socket and sends one message: the bytes "/dev/ptmx" with the master fd in SCM_RIGHTS.
// Node's net cannot receive fds, and a net.Socket that has started reading drops them, so the
// server uses pauseOnConnect (libuv never reads) and we recvmsg on the handle's fd through koffi
// with MSG_CMSG_CLOEXEC (the master must not leak into later runc spawns). docs/sys.md "Console socket".
import { chmodSync } from 'node:fs';
import net from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import tty from 'node:tty';
import { DeadlineExceededError, InternalError, InvalidArgumentError } from '../common/index.js';
import { closeFd, dupCloexec, isErrno, recvFds, setWinsize, MSG_CMSG_CLOEXEC, MSG_DONTWAIT } from './libc.js';

type Arrival = number | Error;

export class ConsoleSocket {
  private readonly waiters: ((v: Arrival) => void)[] = [];
  private readonly arrived: Arrival[] = [];
  private readonly server: net.Server;

  private constructor(readonly path: string) {
    this.server = net.createServer({ pauseOnConnect: true }, (conn) => {
      receiveFromConnection(conn).then(
        (fd) => this.deliver(fd),
        (e: unknown) => this.deliver(e instanceof Error ? e : new InternalError(String(e))),
      );
    });
  }

  /** Listens on `socketPath` (which must not exist yet). */
  static listen(socketPath: string): Promise<ConsoleSocket> {
    const cs = new ConsoleSocket(socketPath);
    return new Promise((resolve, reject) => {
      cs.server.once('error', (e) => reject(new InvalidArgumentError(`console socket ${socketPath}: ${e.message}`, { cause: e })));
      // Root-only: whoever connects could hand the shim a pty of its choosing (docs/security.md).
      cs.server.listen(socketPath, () => {
        try {
          chmodSync(socketPath, 0o600);
          resolve(cs);
        } catch (e) {
          cs.server.close();
          reject(new InternalError(`console socket ${socketPath}: chmod: ${(e as Error).message}`, { cause: e }));
        }
      });
    });
  }

  /** The next pty master fd sent to this socket (close-on-exec); the caller owns it. */
  receiveMaster(opts: { timeoutMs?: number } = {}): Promise<number> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<number>((resolve, reject) => {
      const settle = (v: Arrival): void => {
        clearTimeout(timer);
        if (typeof v === 'number') resolve(v);
        else reject(v);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(settle);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new DeadlineExceededError(`no console fd on ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      const ready = this.arrived.shift();
      if (ready !== undefined) settle(ready);
      else this.waiters.push(settle);
    });
  }

  /** Stops listening and removes the socket file; fds received but never taken are closed. */
  close(): Promise<void> {
    for (const v of this.arrived.splice(0)) if (typeof v === 'number') closeFd(v);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private deliver(v: Arrival): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.arrived.push(v);
  }
}

async function receiveFromConnection(conn: net.Socket): Promise<number> {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  try {
    if (typeof fd !== 'number' || fd < 0) throw new InternalError('console socket connection has no fd');
    // runc writes right after connecting; a short retry covers a slow sender without blocking.
    for (let attempt = 0; ; attempt++) {
      try {
        const { data, fds } = recvFds(fd, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        const [master, ...extra] = fds;
        for (const x of extra) closeFd(x);
        if (master === undefined) throw new InvalidArgumentError(`console socket message "${data.toString()}" carried no fd`);
        return master;
      } catch (e) {
        if (!isErrno(e, 'EAGAIN') || attempt >= 500) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  } finally {
    conn.destroy();
  }
}

export interface PtyStreams {
  /** Output of the pty; ends (instead of erroring) on EIO, which is how a hung-up pty reads. */
  output: Readable;
  /** Input to the pty. */
  input: tty.WriteStream;
  /** Closes both sides and the master. */
  close(): void;
}

/** Wraps a pty master fd (it is owned by the streams from now on). */
export function openPty(master: number): PtyStreams {
  const writeFd = dupCloexec(master); // two libuv handles must not share (and double-close) one fd
  const reader = new tty.ReadStream(master);
  const input = new tty.WriteStream(writeFd);
  const output = new PassThrough();
  reader.on('data', (d: Buffer) => output.write(d));
  reader.on('end', () => output.end());
  reader.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EIO') output.end();
    else output.destroy(e);
  });
  input.on('error', () => {
    // EIO/EPIPE after the container's side is gone: nothing to write to any more
  });
  return {
    output,
    input,
    close: () => {
      reader.destroy();
      input.destroy();
    },
  };
}

/** Sets the terminal size of a pty (TIOCSWINSZ); the foreground process group gets SIGWINCH. */
export function resizePty(fd: number, size: { rows: number; cols: number }): void {
  if (!Number.isInteger(size.rows) || !Number.isInteger(size.cols) || size.rows < 0 || size.cols < 0 || size.rows > 0xffff || size.cols > 0xffff) {
    throw new InvalidArgumentError(`invalid console size ${size.rows}x${size.cols}`);
  }
  setWinsize(fd, size);
}
