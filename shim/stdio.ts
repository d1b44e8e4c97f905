// A process's stdio as containerd hands it over: FIFO paths (created by the client) or "" for
// none, or a pty through runc's console socket.
//  - stdout/stderr: the FIFO is opened O_RDWR (never blocks, never EPIPEs while the reader comes
//    and goes) and given to runc as the process's own fd, so the container writes straight into
//    it and the shim copies nothing;
//  - stdin: a pipe whose read end the process gets; the shim copies the FIFO into the write end
//    and closes it on CloseIO (or when the client closes its side), which is the process's EOF;
//  - terminal: runc sends the pty master to our console socket; the shim copies master -> stdout
//    FIFO and stdin FIFO -> master, and resizes it on ResizePty. libuv reports EOF on the master
//    as soon as the last slave fd closes (POLLHUP after a short read), while the pty may still
//    hold output: the shim then reads its own dup of the master until EIO and copies that too,
//    and close() waits (at most PTY_DRAIN_MS) for it to reach the FIFO, so the last output of a
//    process that exited is not lost (the runc shim drains its console the same way).
import { closeSync, constants, openSync, readSync } from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { InvalidArgumentError, type Logger } from '../common/index.js';
import { ConsoleSocket, dupCloexec, openPty, pipe2, resizePty, type PtyStreams } from '../sys/index.js';

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

type RuncStdio = ['ignore' | number, 'ignore' | number, 'ignore' | number];

function fifoPath(p: string): string {
  if (p === '') return p;
  if (p.startsWith('fifo://')) return p.slice('fifo://'.length);
  if (p.startsWith('file://')) return p.slice('file://'.length);
  if (p.includes('://')) throw new InvalidArgumentError(`unsupported stdio URI ${JSON.stringify(p)}: only FIFO paths are supported`);
  return p;
}

function openRdwr(p: string): number {
  return openSync(p, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
}

/** How long close() waits for a pty's remaining output to reach the stdout FIFO. */
const PTY_DRAIN_MS = 1_000;

export class ProcessIO {
  /** fds handed to runc; the shim closes its copies once runc has started the process. */
  private readonly handoff: number[] = [];
  private readonly streams: { destroy(): void }[] = [];
  private stdinWriter: Writable | undefined;
  private stdinSource: Readable | undefined;
  /** The stdin FIFO's fd under stdinSource (read directly for what is left at CloseIO). */
  private stdinFd: number | undefined;
  private console: ConsoleSocket | undefined;
  private pty: PtyStreams | undefined;
  /** The stdout FIFO the pty output is piped into (it ends once the pty reads EIO). */
  private ptyOut: Writable | undefined;
  private ptyFd: number | undefined;
  readonly runcStdio: RuncStdio = ['ignore', 'ignore', 'ignore'];

  private constructor(
    readonly paths: StdioPaths,
    private readonly log: Logger,
  ) {}

  /** Opens what runc needs before `create`/`exec`; `consolePath` is used when terminal is set. */
  static async prepare(paths: StdioPaths, consolePath: string, log: Logger): Promise<ProcessIO> {
    const io = new ProcessIO({ ...paths, stdin: fifoPath(paths.stdin), stdout: fifoPath(paths.stdout), stderr: fifoPath(paths.stderr) }, log);
    try {
      if (paths.terminal) {
        io.console = await ConsoleSocket.listen(consolePath);
        return io;
      }
      if (io.paths.stdin) {
        const [r, w] = pipe2();
        io.handoff.push(r);
        io.runcStdio[0] = r;
        const writer = new net.Socket({ fd: w, readable: false, writable: true });
        writer.on('error', (err) => log.debug({ err }, 'stdin pipe closed'));
        io.stdinWriter = writer;
        io.stdinFd = openRdwr(io.paths.stdin);
        const source = new net.Socket({ fd: io.stdinFd, readable: true, writable: false });
        source.on('error', (err) => log.debug({ err }, 'stdin fifo error'));
        source.pipe(writer);
        io.stdinSource = source;
      }
      if (io.paths.stdout) {
        const fd = openRdwr(io.paths.stdout);
        io.handoff.push(fd);
        io.runcStdio[1] = fd;
      }
      if (io.paths.stderr) {
        const fd = io.paths.stderr === io.paths.stdout ? (io.runcStdio[1] as number) : openRdwr(io.paths.stderr);
        if (fd !== io.runcStdio[1]) io.handoff.push(fd);
        io.runcStdio[2] = fd;
      }
      return io;
    } catch (err) {
      void io.close();
      throw err;
    }
  }

  get consoleSocketPath(): string | undefined {
    return this.console?.path;
  }

  /** After runc create/exec returned: drop our copies of the handed-over fds; wire the pty. */
  async started(): Promise<void> {
    for (const fd of this.handoff.splice(0)) closeQuietly(fd);
    if (!this.console) return;
    const cs = this.console;
    this.console = undefined;
    try {
      const master = await cs.receiveMaster({ timeoutMs: 10_000 });
      const own = dupCloexec(master); // for resize and the final drain, after the streams closed theirs
      this.ptyFd = own;
      this.pty = openPty(master);
      const out = this.paths.stdout ? new net.Socket({ fd: openRdwr(this.paths.stdout), readable: false, writable: true }) : undefined;
      if (out) {
        out.on('error', (err) => this.log.debug({ err }, 'pty stdout fifo error'));
        this.pty.output.pipe(out, { end: false });
        this.streams.push(out);
        this.ptyOut = out;
      } else {
        this.pty.output.resume();
      }
      this.pty.output.once('end', () => {
        for (const chunk of readRest(own)) out?.write(chunk);
        out?.end();
      });
      if (this.paths.stdin) {
        this.stdinFd = openRdwr(this.paths.stdin);
        const source = new net.Socket({ fd: this.stdinFd, readable: true, writable: false });
        source.on('error', (err) => this.log.debug({ err }, 'pty stdin fifo error'));
        source.pipe(this.pty.input);
        this.stdinSource = source;
      }
    } finally {
      await cs.close();
    }
  }

  resize(width: number, height: number): void {
    if (this.ptyFd === undefined) return;
    resizePty(this.ptyFd, { rows: height, cols: width });
  }

  /**
   * CloseIO: the process reads EOF on stdin, after every byte the shim already took: what the
   * FIFO reader holds unread (up to its high-water mark while the process is slow to read) and
   * what is still in the FIFO are written on before the end. Dropping them lost the tail of a
   * stdin whose client closed as soon as the FIFO was empty (docs/shim.md, "stdin at CloseIO").
   */
  closeStdin(): void {
    const source = this.stdinSource;
    const target = this.stdinWriter ?? this.pty?.input;
    this.stdinSource = undefined;
    this.stdinWriter = undefined;
    if (source) {
      source.unpipe();
      for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) target?.write(chunk);
      if (this.stdinFd !== undefined) for (const chunk of readRest(this.stdinFd)) target?.write(chunk);
      source.destroy();
    }
    this.stdinFd = undefined;
    target?.end();
  }

  /**
   * Everything closed: after the process exited, or when create failed. A pty's remaining output
   * is copied out first (for at most PTY_DRAIN_MS).
   */
  async close(): Promise<void> {
    for (const fd of this.handoff.splice(0)) closeQuietly(fd);
    this.stdinSource?.destroy();
    this.stdinWriter?.destroy();
    await this.drainPty();
    for (const s of this.streams.splice(0)) s.destroy();
    this.pty?.close();
    this.pty = undefined;
    void this.console?.close();
    this.console = undefined;
    if (this.ptyFd !== undefined) closeQuietly(this.ptyFd);
    this.ptyFd = undefined;
  }

  /** Resolves once the pty output has ended and reached the FIFO, or after PTY_DRAIN_MS. */
  private async drainPty(): Promise<void> {
    const output = this.pty?.output;
    if (!output) return;
    const out = this.ptyOut;
    const drained = out ? out.writableFinished || out.destroyed : output.readableEnded || output.destroyed;
    if (drained) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PTY_DRAIN_MS);
      const target = out ?? output;
      target.once(out ? 'finish' : 'end', resolve);
      target.once('close', resolve);
      target.once('error', () => resolve());
    });
    clearTimeout(timer);
  }
}

/**
 * What a pty master still holds after libuv saw the hang-up: read until EIO (no slave left, all
 * read), EAGAIN (a slave is open again) or any other error, for at most PTY_DRAIN_MS.
 */
function readRest(fd: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (const until = Date.now() + PTY_DRAIN_MS; Date.now() < until; ) {
    const buf = Buffer.alloc(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch {
      break;
    }
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
  }
  return chunks;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
