// The StreamingBackend the daemon gives the streaming server: exec runs a process through the
// task manager (as ExecSync does, but with the client's streams and terminal), attach tees the
// container's live stdio, port-forward connects inside the pod's network namespace.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FailedPreconditionError } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import type {
  BackendAttachRequest, BackendExecRequest, BackendPortForwardRequest, StreamingBackend, TerminalSize,
} from '../streaming/index.js';
import { containerState } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { OutputPump, OutputTee, aborted } from './streaming-io.js';
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
  try {
    const exited = deps.tasks.wait(CRI_NAMESPACE, id, execId);
    await deps.tasks.startExec(CRI_NAMESPACE, id, execId);
    req.signal.addEventListener('abort', kill, { once: true });
    if (req.signal.aborted) kill();
    if (req.stdin && handle.stdin) {
      req.stdin.pipe(handle.stdin, { end: false });
      const pipeIn = handle.stdin;
      req.stdin.once('end', () => {
        // The runc shim tears the console down when a TTY's stdin closes (output lost): a
        // terminal gets end-of-file the way a keyboard sends it, ^D; a pipe is closed.
        if (req.tty) pipeIn.write(EOT);
        else deps.tasks.closeIO(CRI_NAMESPACE, id, execId).catch((e: unknown) => log.debug({ err: e }, 'cannot close exec stdin'));
      });
    }
    const resizePty = (s: TerminalSize) => deps.tasks.resizePty(CRI_NAMESPACE, id, s.width, s.height, execId);
    void (sizes.first ? resizePty(sizes.first) : Promise.resolve()).then(() => applyResizes(sizes.rest, resizePty))
      .catch((e: unknown) => log.debug({ err: e }, 'exec resize failed'));
    const exit = await exited;
    await Promise.all([out.drain(req.signal), err.drain(req.signal)]);
    return { exitCode: exit.exitStatus };
  } finally {
    req.signal.removeEventListener('abort', kill);
    if (req.stdin && handle.stdin) req.stdin.unpipe(handle.stdin);
    out.stop();
    err.stop();
    await deps.tasks.deleteExec(CRI_NAMESPACE, id, execId).catch((e: unknown) => log.warn({ err: e }, 'cannot delete exec'));
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
  if (req.stdin && stdin) {
    req.stdin.pipe(stdin, { end: false });
    if (c.config.stdinOnce === true) {
      req.stdin.once('end', () => {
        deps.tasks.closeIO(CRI_NAMESPACE, id).catch((e: unknown) => log.debug({ err: e }, 'cannot close container stdin'));
      });
    }
  } else {
    req.stdin?.resume();
  }
  if (c.config.tty === true) {
    void applyResizes(req.resize, (s) => deps.tasks.resizePty(CRI_NAMESPACE, id, s.width, s.height))
      .catch((e: unknown) => log.debug({ err: e }, 'attach resize failed'));
  }
  const exit = containerStopped(deps, id);
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
