// FIFOs on the daemon side: the shim log FIFO and the tasks' stdio FIFOs. Every FIFO is opened
// O_RDWR|O_NONBLOCK, as containerd does: the open never blocks waiting for a peer, reads never see
// EOF while the shim is away, and bytes written while the daemon was down stay in the pipe until
// the daemon reopens it after a restart.
import { chmodSync, constants, openSync, closeSync, rmSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import net from 'node:net';
import { InternalError } from '../common/index.js';
import { isErrno, mkfifo } from '../sys/index.js';

/** Creates a FIFO (mode 0700 unless told) unless one already exists at `path`. */
export async function makeFifo(path: string, mode = 0o700): Promise<void> {
  try {
    const st = await lstat(path);
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
