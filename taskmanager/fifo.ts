// FIFOs on the daemon side: the shim log FIFO and the tasks' stdio FIFOs. Every FIFO is opened
// O_RDWR|O_NONBLOCK, as containerd does: the open never blocks waiting for a peer, reads never see
// EOF while the shim is away, and bytes written while the daemon was down stay in the pipe until
// the daemon reopens it after a restart.
import { chmodSync, constants, lstatSync, openSync, closeSync, rmSync } from 'node:fs';
import net from 'node:net';
import { InternalError } from '../common/index.js';
import { bytesToRead, isErrno, mkfifo } from '../sys/index.js';

/** Creates a FIFO (mode 0700 unless told) unless one already exists at `path`. */
export async function makeFifo(path: string, mode = 0o700): Promise<void> {
  // Synchronous calls: FIFOs live on the state tmpfs, where each call takes microseconds, and a
  // task start makes up to three of them (a trip through the thread pool each cost more).
  try {
    const st = lstatSync(path);
    if (st.isFIFO()) return;
    throw new InternalError(`${path} exists and is not a FIFO`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // mkfifo(3), not the mkfifo binary: a process spawned from the daemon costs ~10 ms, and every
  // task makes three FIFOs (log, stdout, stderr).
  try {
    mkfifo(path, mode);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return makeFifo(path, mode); // made meanwhile: a FIFO is fine
    throw new InternalError(`mkfifo ${path} failed: ${(err as Error).message}`, { cause: err });
  }
  try {
    chmodSync(path, mode); // exactly `mode`, whatever the umask
  } catch (err) {
    rmSync(path, { force: true });
    throw new InternalError(`chmod ${path} failed: ${(err as Error).message}`, { cause: err });
  }
}

function openRdwr(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

/** Opens a FIFO for reading; the stream never ends on its own (we hold a write end too). */
export function openFifoReader(path: string): net.Socket {
  const fd = openRdwr(path);
  try {
    return new net.Socket({ fd, readable: true, writable: false });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Opens a FIFO for writing (a process's stdin). */
export function openFifoWriter(path: string): net.Socket {
  const fd = openRdwr(path);
  try {
    const s = new net.Socket({ fd, readable: false, writable: true });
    s.pause();
    return s;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Bytes in the FIFO under `s` (a reader from openFifoReader) that the stream has not read yet; 0
 * once closed. With the writer done, 0 means every byte reached the stream's 'data' listeners.
 */
export function unreadFifoBytes(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0 || s.destroyed) return 0;
  try {
    return bytesToRead(fd);
  } catch {
    return 0;
  }
}

/**
 * Waits until the FIFOs under `streams` hold nothing unread (at most `maxMs`), then one more turn
 * of the event loop for the 'data' of the last read. Exact once their writers are done: the
 * exec's Delete returned (the runc shim copies output until then) or the process wrote straight
 * into the FIFO and exited (berth's shim). docs/taskmanager.md "Exec output".
 */
export async function drainFifoReaders(streams: ReadonlyArray<net.Socket | undefined>, maxMs = 2_000): Promise<void> {
  const until = Date.now() + maxMs;
  for (;;) {
    await new Promise((r) => setImmediate(r));
    if (streams.every((s) => !s || unreadFifoBytes(s) === 0) || Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}
