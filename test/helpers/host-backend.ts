// A StreamingBackend that runs processes on the host instead of in containers: the streaming
// server's tests and a dev harness use it. Exec spawns the command (TTY through a small python
// pty helper that applies resize events with TIOCSWINSZ); attach joins a process started with
// `startContainer`; port-forward connects to 127.0.0.1:<port>.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { NotFoundError } from '../../common/index.js';
import type {
  BackendAttachRequest, BackendExecRequest, BackendPortForwardRequest, StreamingBackend, TerminalSize,
} from '../../cri/streaming/index.js';

// Runs argv[1:] on a new pty; stdin -> pty, pty -> stdout; fd 3 carries "rows cols" lines.
const PTY_HELPER = `
import os, sys, pty, select, fcntl, termios, struct
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
watch = [3, 0, fd]
pending = b''
while fd in watch:
    r, _, _ = select.select(watch, [], [])
    if 3 in r:
        chunk = os.read(3, 4096)
        if not chunk:
            watch.remove(3)
        pending += chunk
        while b'\\n' in pending:
            line, pending = pending.split(b'\\n', 1)
            rows, cols = (int(x) for x in line.split())
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            os.write(fd, data)
        else:
            os.write(fd, b'\\x04')
            watch.remove(0)
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os_signals[signal] ?? 9) : 9);
}
const os_signals: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGPIPE: 13 };

function spawnFor(cmd: string[], tty: boolean): ChildProcess {
  if (tty) return spawn('python3', ['-c', PTY_HELPER, ...cmd], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  return spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Pipes with backpressure; never ends `to` (the server ends and flushes it). */
function pump(from: Readable | null | undefined, to: Writable | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!from) { resolve(); return; }
    if (!to) { from.resume(); from.once('end', resolve); from.once('close', resolve); return; }
    from.pipe(to, { end: false });
    from.once('end', resolve);
    from.once('close', resolve);
    to.once('close', () => { from.unpipe(to); from.resume(); });
  });
}

function feedStdin(stdin: Readable | undefined, child: ChildProcess, closeOnEnd: boolean): void {
  child.stdin?.on('error', () => undefined);
  if (!stdin) {
    if (closeOnEnd) child.stdin?.end();
    return;
  }
  stdin.pipe(child.stdin!, { end: closeOnEnd });
}

async function feedResize(resize: AsyncIterable<TerminalSize> | undefined, child: ChildProcess): Promise<void> {
  const ctl = child.stdio[3] as Writable | undefined;
  if (!resize || !ctl) return;
  ctl.on('error', () => undefined);
  for await (const s of resize) ctl.write(`${s.height} ${s.width}\n`);
}

export class HostProcessBackend implements StreamingBackend {
  readonly #containers = new Map<string, { child: ChildProcess; tty: boolean }>();
  /** Pids of every exec process, for leak checks in tests. */
  readonly execPids: number[] = [];

  /** Starts a long-running process that `attach` can join (a stand-in for a container). */
  startContainer(id: string, cmd: string[], tty = false): ChildProcess {
    const child = spawnFor(cmd, tty);
    this.#containers.set(id, { child, tty });
    child.once('exit', () => this.#containers.delete(id));
    return child;
  }

  async exec(req: BackendExecRequest): Promise<{ exitCode: number }> {
    const child = spawnFor(req.cmd, req.tty);
    if (child.pid !== undefined) this.execPids.push(child.pid);
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
    const kill = () => child.kill('SIGKILL');
    req.signal.addEventListener('abort', kill, { once: true });
    feedStdin(req.stdin, child, true);
    void feedResize(req.resize, child);
    try {
      const [exitCode] = await Promise.all([exited, pump(child.stdout, req.stdout), pump(child.stderr, req.stderr)]);
      return { exitCode };
    } finally {
      req.signal.removeEventListener('abort', kill);
      (child.stdio[3] as Writable | undefined)?.destroy();
    }
  }

  async attach(req: BackendAttachRequest): Promise<void> {
    const c = this.#containers.get(req.containerId);
    if (!c) throw new NotFoundError(`container ${req.containerId} not found`);
    const { child } = c;
    feedStdin(req.stdin, child, false);
    void feedResize(req.resize, child);
    const detached = new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([Promise.all([pump(child.stdout, req.stdout), pump(child.stderr, req.stderr)]), detached]);
    } finally {
      if (req.stdin) req.stdin.unpipe(child.stdin!);
      if (req.stdout) child.stdout?.unpipe(req.stdout);
      if (req.stderr) child.stderr?.unpipe(req.stderr);
    }
  }

  portForward(req: BackendPortForwardRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(req.port, '127.0.0.1');
      const abort = () => sock.destroy();
      req.signal.addEventListener('abort', abort, { once: true });
      sock.once('connect', () => {
        req.stream.pipe(sock);
        sock.pipe(req.stream);
      });
      sock.once('error', (err) => {
        req.signal.removeEventListener('abort', abort);
        reject(err);
      });
      sock.once('close', (hadError) => {
        req.signal.removeEventListener('abort', abort);
        if (!hadError) resolve();
      });
    });
  }

  /** Kills every attachable process started by this backend. */
  close(): void {
    for (const { child } of this.#containers.values()) child.kill('SIGKILL');
    this.#containers.clear();
  }
}
