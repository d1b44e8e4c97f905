// The StreamingBackend the daemon gives the streaming server: exec runs a process through the
// task manager (as ExecSync does, but with the client's streams and terminal), attach tees the
// container's live stdio, port-forward connects inside the pod's network namespace.
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError, randomBytes, type Logger } from '../../common/index.js';
import { bytesToRead } from '../../sys/index.js';
import { runtime } from '../../proto/cri-wire.js';
import type {
  BackendAttachRequest, BackendExecRequest, BackendPortForwardRequest, StreamingBackend, TerminalSize,
} from '../streaming/index.js';
import { containerState } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { OutputPump, OutputTee, aborted } from './streaming-io.js';
import { drainFifoReaders } from '../../taskmanager/index.js';
import { forwardPort } from './streaming-portforward.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'dirs' | 'log' | 'events'>;

const EOT = Buffer.from([0x04]);

/** The container record of a running container, or NotFound / FailedPrecondition. */
export function runningContainer(deps: Pick<RuntimeDeps, 'store'>, id: string) {
  const c = deps.store.containers.get(id);
  const state = containerState(c);
  if (state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${id} is in ${state} state, not running`);
  return c;
}

/** How long a TTY exec waits for the client's first size (clients send it on connect). */
const FIRST_SIZE_WAIT_MS = 250;

async function* resumeSizes(head: Promise<IteratorResult<TerminalSize>>, it: AsyncIterator<TerminalSize>): AsyncIterable<TerminalSize> {
  for (let r = await head; r.done !== true; r = await it.next()) yield r.value;
}

/**
 * The client's first terminal size, so the exec starts with it (process.consoleSize) instead of
 * racing the command against the first ResizePty; the later sizes stay in `rest`.
 */
async function firstSize(resize: AsyncIterable<TerminalSize> | undefined): Promise<{ first?: TerminalSize; rest?: AsyncIterable<TerminalSize> }> {
  if (!resize) return {};
  const it = resize[Symbol.asyncIterator]();
  const head = it.next();
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([head, new Promise<undefined>((res) => { timer = setTimeout(() => res(undefined), FIRST_SIZE_WAIT_MS); })]);
  clearTimeout(timer);
  if (r === undefined) return { rest: resumeSizes(head, it) };
  if (r.done === true) return {};
  return { first: r.value, rest: resumeSizes(it.next(), it) };
}

async function applyResizes(resize: AsyncIterable<TerminalSize> | undefined, apply: (s: TerminalSize) => Promise<void>): Promise<void> {
  if (!resize) return;
  for await (const s of resize) await apply(s);
}

/** How often CloseIO is tried for an exec whose client closed stdin, and the wait between tries. */
const CLOSE_IO_TRIES = 5;
const CLOSE_IO_RETRY_MS = 200;
/** Longest wait for the shim to take the client's last bytes out of the FIFO before CloseIO. */
const FIFO_TAKEN_WAIT_MS = 2_000;

/**
 * Resolves once the FIFO behind `to` is empty (the shim took every byte), the process exited, or
 * FIFO_TAKEN_WAIT_MS passed (a process that does not read keeps it full: it gets the close anyway,
 * behind its data). berth's own shim drops what is still in the FIFO when CloseIO comes.
 */
async function fifoTaken(to: Writable, exited: () => boolean): Promise<void> {
  const fd = (to as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return;
  for (const end = Date.now() + FIFO_TAKEN_WAIT_MS; Date.now() < end && !exited();) {
    try {
      if (bytesToRead(fd) === 0) return;
    } catch {
      return; // closed meanwhile: nothing left to wait for
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A client's stdin into a process's stdin FIFO, with backpressure (a full FIFO pauses the
 * client channel, which stops reading the client's socket). The client's end of stdin becomes
 * the process's end of input only once every byte it sent was written into the FIFO, so the
 * close never overtakes data (docs/streaming.md, "stdin close"): a TTY gets ^D after them, a pipe
 * CloseIO once the shim took them out of the FIFO.
 * CloseIO is retried while the process runs: one that fails (a shim busy past the call deadline)
 * would leave the process waiting for input forever, and its client with it.
 */
function feedStdin(
  from: Readable, to: Writable,
  o: { atEnd: 'eot' | 'closeIO' | 'nothing'; log: Logger; exited: Promise<unknown>; closeIO: () => Promise<void> },
): void {
  from.pipe(to, { end: false });
  let exited = false;
  o.exited.then(() => { exited = true; }, () => { exited = true; });
  from.once('end', () => {
    o.log.debug('client closed stdin');
    if (o.atEnd === 'nothing') return;
    // An empty write completes after every write before it: the client's bytes are in the FIFO.
    to.write(Buffer.alloc(0), () => {
      if (o.atEnd === 'eot') { to.write(EOT); return; }
      void (async () => {
        await fifoTaken(to, () => exited);
        for (let attempt = 1; !exited; attempt++) {
          try {
            await o.closeIO();
            o.log.debug('exec stdin closed');
            return;
          } catch (err) {
            if (exited || attempt >= CLOSE_IO_TRIES) {
              o.log.warn({ err, attempt }, 'cannot close exec stdin');
              return;
            }
            o.log.warn({ err, attempt }, 'cannot close exec stdin; trying again');
            await new Promise((r) => setTimeout(r, CLOSE_IO_RETRY_MS * attempt));
          }
        }
      })();
    });
  });
}

export function streamingBackend(deps: Deps): StreamingBackend {
  return {
    exec: (req) => exec(deps, req),
    attach: (req) => attach(deps, req),
    portForward: (req: BackendPortForwardRequest) => forwardPort(deps, req),
  };
}

async function exec(deps: Deps, req: BackendExecRequest): Promise<{ exitCode: number }> {
  const id = req.containerId;
  runningContainer(deps, id);
  const spec = JSON.parse(await readFile(containerSpecPath(deps.dirs, id), 'utf8')) as { process: Record<string, unknown> };
  const execId = `exec-${randomBytes(8).toString('hex')}`;
  const log = deps.log.child({ containerId: id, execId });
  const sizes = req.tty ? await firstSize(req.resize) : {};
  const consoleSize = sizes.first ? { consoleSize: { height: sizes.first.height, width: sizes.first.width } } : {};
  const handle = await deps.tasks.exec(CRI_NAMESPACE, id, execId, {
    spec: { ...spec.process, args: [...req.cmd], terminal: req.tty, ...consoleSize }, terminal: req.tty, stdin: req.stdin !== undefined,
  });
  const out = new OutputPump(handle.stdout, req.stdout);
  const err = new OutputPump(handle.stderr, req.stderr);
  const kill = () => {
    deps.tasks.kill(CRI_NAMESPACE, id, 9, { execId }).catch((e: unknown) => log.debug({ err: e }, 'cannot kill exec'));
  };
  let deleted = false;
  try {
    const exited = deps.tasks.wait(CRI_NAMESPACE, id, execId);
    await deps.tasks.startExec(CRI_NAMESPACE, id, execId);
    req.signal.addEventListener('abort', kill, { once: true });
    if (req.signal.aborted) kill();
    if (req.stdin && handle.stdin) {
      // The runc shim tears the console down when a TTY's stdin closes (output lost): a terminal
      // gets end-of-file the way a keyboard sends it, ^D; a pipe is closed.
      feedStdin(req.stdin, handle.stdin, {
        atEnd: req.tty ? 'eot' : 'closeIO', log, exited,
        closeIO: () => deps.tasks.closeIO(CRI_NAMESPACE, id, execId),
      });
    }
    const resizePty = (s: TerminalSize) => deps.tasks.resizePty(CRI_NAMESPACE, id, s.width, s.height, execId);
    void (sizes.first ? resizePty(sizes.first) : Promise.resolve()).then(() => applyResizes(sizes.rest, resizePty))
      .catch((e: unknown) => log.debug({ err: e }, 'exec resize failed'));
    const exit = await exited;
    // Delete first: the runc shim's Delete returns once its copy of the output into the FIFOs
    // ended; then every byte is read out of them and handed to the client (with its backpressure).
    deleted = true;
    await deps.tasks.deleteExec(CRI_NAMESPACE, id, execId, {
      beforeClose: async () => {
        await drainFifoReaders([handle.stdout, handle.stderr]);
        await Promise.all([out.drain(req.signal), err.drain(req.signal)]);
      },
    }).catch((e: unknown) => log.warn({ err: e }, 'cannot delete exec'));
    return { exitCode: exit.exitStatus };
  } finally {
    req.signal.removeEventListener('abort', kill);
    if (req.stdin && handle.stdin) req.stdin.unpipe(handle.stdin);
    out.stop();
    err.stop();
    if (!deleted) await deps.tasks.deleteExec(CRI_NAMESPACE, id, execId).catch((e: unknown) => log.warn({ err: e }, 'cannot delete exec'));
  }
}

/**
 * Resolves when the container is no longer running: its STOPPED event (emitted once the exit is
 * recorded and its log drained) or a state that already changed. cancel() unsubscribes, so a
 * detached client leaves nothing behind (an exit-monitor wait could not be taken back).
 */
function containerStopped(deps: Pick<RuntimeDeps, 'store' | 'events'>, id: string): { stopped: Promise<'stopped'>; cancel: () => void } {
  let cancel: () => void = () => undefined;
  const stopped = new Promise<'stopped'>((resolve) => {
    cancel = deps.events.subscribe((e) => {
      if (e.containerId === id && e.containerEventType === runtime.v1.ContainerEventType.CONTAINER_STOPPED_EVENT) resolve('stopped');
    });
    if (!deps.store.containers.has(id) || containerState(deps.store.containers.get(id)) !== 'CONTAINER_RUNNING') resolve('stopped');
  });
  return { stopped, cancel };
}

async function attach(deps: Deps, req: BackendAttachRequest): Promise<void> {
  const id = req.containerId;
  const c = runningContainer(deps, id);
  const task = deps.tasks.task(CRI_NAMESPACE, id);
  const log = deps.log.child({ containerId: id });
  const tees = [new OutputTee(task.stdout, req.stdout), new OutputTee(task.stderr, req.stderr)];
  const stdin = c.config.stdin === true && task.stdin ? task.stdin : undefined;
  const exit = containerStopped(deps, id);
  if (req.stdin && stdin) {
    // stdin_once: the first client to close stdin closes the container's
    feedStdin(req.stdin, stdin, {
      atEnd: c.config.stdinOnce === true ? 'closeIO' : 'nothing', log, exited: exit.stopped,
      closeIO: () => deps.tasks.closeIO(CRI_NAMESPACE, id),
    });
  } else {
    req.stdin?.resume();
  }
  if (c.config.tty === true) {
    void applyResizes(req.resize, (s) => deps.tasks.resizePty(CRI_NAMESPACE, id, s.width, s.height))
      .catch((e: unknown) => log.debug({ err: e }, 'attach resize failed'));
  }
  try {
    if (await Promise.race([exit.stopped, aborted(req.signal)]) === 'stopped') {
      await Promise.all(tees.map((t) => t.drain(req.signal)));
    }
  } finally {
    exit.cancel();
    if (req.stdin && stdin) req.stdin.unpipe(stdin);
    for (const t of tees) t.stop();
  }
}
