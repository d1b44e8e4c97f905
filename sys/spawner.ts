// Runs short-lived helper processes (CNI plugins, `unshare` for a netns, `<shim> start`) from a
// worker thread. Node's spawn() blocks the calling thread until the child has exec'd: measured
// 6-11 ms per spawn on the 2-core VM (a fresh `node`, stdio ignored or piped), against ~0.5 ms
// for posix_spawn(3) from Python on the same machine. A pod start runs several such processes
// while the pause task is being made, so on the main thread those milliseconds stalled the other
// lane (and every CRI call) each time. From a worker, the wait for exec lands on the worker's
// thread; fork() still copies the whole process's memory map under its lock, so the main thread
// is not entirely spared: measured over 10 spawns of /bin/true, its event-loop lag fell from
// 69-93 ms to 44-45 ms (the spawns' wall time is the same).
//
// The runner is plain JavaScript evaluated in the worker (no bundle needed beside the daemon's)
// and, should a worker not start, on the calling thread. A timed-out child (and with `detached`,
// its process group) is SIGKILLed and the call settles at once with `timedOut`.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';

export interface RunRequest {
  file: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed; no input = stdin is /dev/null. */
  input?: Uint8Array | string;
  timeoutMs: number;
  /** Own session and process group (the timeout then kills the group). */
  detached?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout and stderr in the order they arrived. */
  combined: Buffer;
  timedOut: boolean;
}

/** A spawn failure (ENOENT, EACCES, ...), with the errno code of Node's own error. */
export class SpawnError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'SpawnError';
  }
}

interface WireRequest extends Omit<RunRequest, 'args' | 'input'> { id: number; args: string[]; input?: Uint8Array }
interface WireResult {
  id: number;
  error?: { message: string; code?: string };
  code?: number | null;
  signal?: NodeJS.Signals | null;
  stdout?: Uint8Array;
  stderr?: Uint8Array;
  combined?: Uint8Array;
  timedOut?: boolean;
}

// `run(m, post, spawn)`: self-contained, no imports (it is source text for the worker).
const RUNNER = `
function run(m, post, spawn) {
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: m.detached === true, stdio: [m.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  } catch (e) {
    post({ id: m.id, error: { message: e.message, code: e.code } });
    return;
  }
  const out = [], err = [], all = [];
  let done = false;
  const finish = (r) => { if (done) return; done = true; clearTimeout(timer); post(r); };
  const result = (code, signal, timedOut) => ({
    id: m.id, code, signal, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(err), combined: Buffer.concat(all),
  });
  const timer = setTimeout(() => {
    try { process.kill(m.detached === true ? -child.pid : child.pid, 'SIGKILL'); } catch { try { child.kill('SIGKILL'); } catch {} }
    if (child.stdout) child.stdout.destroy();
    if (child.stderr) child.stderr.destroy();
    finish(result(null, 'SIGKILL', true));
  }, m.timeoutMs);
  child.stdout.on('data', (d) => { out.push(d); all.push(d); });
  child.stderr.on('data', (d) => { err.push(d); all.push(d); });
  child.on('error', (e) => finish({ id: m.id, error: { message: e.message, code: e.code } }));
  child.on('close', (code, signal) => finish(result(code, signal, false)));
  if (m.input && child.stdin) {
    child.stdin.on('error', () => {}); // a child that exits without reading its stdin
    child.stdin.end(Buffer.from(m.input));
  }
}
`;

const WORKER_SOURCE = `${RUNNER}
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
parentPort.on('message', (m) => run(m, (r) => parentPort.postMessage(r), spawn));
`;

type Runner = (m: WireRequest, post: (r: WireResult) => void, spawnFn: typeof spawn) => void;

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, (r: WireResult) => void>();
let inThread: Runner | undefined;

function workerFor(): Worker | undefined {
  if (worker) return worker;
  if (process.env.BERTH_SPAWN_THREAD === '0') return undefined; // spawn on the calling thread
  try {
    const w = new Worker(WORKER_SOURCE, { eval: true, stdout: false, stderr: false });
    w.unref(); // never keeps the process alive; a pending call refs nothing but its promise
    w.on('message', (r: WireResult) => {
      const settle = pending.get(r.id);
      pending.delete(r.id);
      settle?.(r);
    });
    const lost = (why: string) => {
      if (worker === w) worker = undefined;
      for (const [id, settle] of pending) settle({ id, error: { message: `the spawner thread ${why}` } });
      pending.clear();
    };
    w.on('error', (e) => lost(`failed: ${e.message}`));
    w.on('exit', (code) => lost(`exited (${code})`));
    worker = w;
    return w;
  } catch {
    return undefined;
  }
}

/** Runs `req.file` to completion off the calling thread; rejects only when it cannot start it. */
export function runProcess(req: RunRequest): Promise<RunResult> {
  const m: WireRequest = {
    id: nextId++, file: req.file, args: [...(req.args ?? [])], env: { ...(req.env ?? process.env) }, timeoutMs: req.timeoutMs,
    ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
    ...(req.detached !== undefined ? { detached: req.detached } : {}),
    ...(req.input !== undefined ? { input: typeof req.input === 'string' ? Buffer.from(req.input) : req.input } : {}),
  };
  return new Promise((resolve, reject) => {
    const settle = (r: WireResult): void => {
      if (r.error) {
        reject(new SpawnError(r.error.message, r.error.code));
        return;
      }
      const buf = (b: Uint8Array | undefined) => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.alloc(0));
      resolve({
        code: r.code ?? null, signal: r.signal ?? null, stdout: buf(r.stdout), stderr: buf(r.stderr), combined: buf(r.combined),
        timedOut: r.timedOut === true,
      });
    };
    const w = workerFor();
    if (w) {
      w.ref(); // while a call is out: a daemon waiting on a plugin is not idle
      const release = (): void => { if (pending.size === 0) w.unref(); };
      pending.set(m.id, (r) => { settle(r); release(); });
      w.postMessage(m);
      return;
    }
    inThread ??= new Function(`${RUNNER}; return run;`)() as Runner;
    inThread(m, settle, spawn);
  });
}
