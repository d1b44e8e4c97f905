// Runs short-lived helper processes (CNI plugins, `unshare` for a netns, `<shim> start`) to
// completion. Node's spawn() forks: it blocks the calling thread until the child has exec'd
// (6-11 ms per spawn on the 2-core VM, a fresh `node`, stdio piped) and copies the whole process's
// memory map under its lock, which stalls every other thread too. A pod start runs several such
// processes while the pause task is being made, so those milliseconds stalled the other lane (and
// every CRI call) each time.
//
// By default (`BERTH_SPAWN=posix`) the child is started with posix_spawn(3) through koffi on the
// calling thread (sys/libc.ts: clone with CLONE_VM | CLONE_VFORK, ~0.5 ms, no copy of the memory
// map), its pipes are read by the event loop and it is reaped with waitid(WNOHANG) once both
// output pipes closed (what Node's 'close' waits for too). `BERTH_SPAWN=thread` runs Node's
// spawn() from a worker thread (measured over 10 spawns of /bin/true: the main thread's event-loop
// lag fell from 69-93 ms to 44-45 ms; it is also the fallback should koffi not load), and
// `BERTH_SPAWN=inline` runs Node's spawn() on the calling thread, for A/B runs.
//
// The thread runner is plain JavaScript evaluated in the worker (no bundle needed beside the
// daemon's). Every way, a timed-out child (and with `detached`, its process group) is SIGKILLed
// and the call settles at once with `timedOut`.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { closeFd, kill, pipe2, posixSpawn, waitid, P_PID, WNOHANG, SyscallError } from './libc.js';
import { posixSpawnChosen, posixSpawnUnusable, resolveExecutable, signalName } from './posix-child.js';

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

type SpawnMode = 'posix' | 'thread' | 'inline';
function spawnMode(): SpawnMode {
  const v = process.env.BERTH_SPAWN;
  if (v === 'thread' || v === 'inline') return v;
  return posixSpawnChosen() ? 'posix' : 'thread';
}

/** Runs `req.file` to completion without stalling the event loop; rejects only when it cannot start it. */
export function runProcess(req: RunRequest): Promise<RunResult> {
  const mode = spawnMode();
  if (mode === 'posix') {
    try {
      return Promise.resolve(runPosix(req));
    } catch (err) {
      if (err instanceof SpawnError) return Promise.reject(err);
      posixSpawnUnusable(); // koffi did not load, or glibc lacks a call: Node's spawn from now on
    }
  }
  return runNode(req, mode === 'inline');
}

function runNode(req: RunRequest, inline: boolean): Promise<RunResult> {
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
    const w = inline ? undefined : workerFor();
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

// ---- posix_spawn ---------------------------------------------------------------------------------

const SIGKILL = osConstants.signals.SIGKILL;
const REAP_MAX_DELAY_MS = 50;

/** Throws SpawnError when the child cannot start; any other throw means posix_spawn is unusable. */
function runPosix(req: RunRequest): Promise<RunResult> {
  const env = req.env ?? process.env;
  const file = resolveExecutable(req.file, env);
  if (file === undefined) throw new SpawnError(`spawn ${req.file} ENOENT`, 'ENOENT');
  const input = req.input === undefined ? undefined : typeof req.input === 'string' ? Buffer.from(req.input) : req.input;
  const opened: number[] = [];
  const pipe = (): [number, number] => {
    const p = pipe2();
    opened.push(...p);
    return p;
  };
  let pid: number;
  let fds: { out: [number, number]; err: [number, number]; in: [number, number] | undefined };
  try {
    fds = { out: pipe(), err: pipe(), in: input ? pipe() : undefined };
    pid = posixSpawn(file, [req.file, ...(req.args ?? [])], env, {
      stdio: [fds.in ? fds.in[0] : 'null', fds.out[1], fds.err[1]],
      ...(req.cwd !== undefined ? { cwd: req.cwd } : {}), setsid: req.detached === true,
    });
  } catch (err) {
    for (const fd of opened) closeFd(fd);
    // A failed call (ENOENT, EACCES, EMFILE for the pipes...) fails this spawn only; anything
    // else (koffi did not load) means posix_spawn is unusable here.
    if (err instanceof SyscallError) throw new SpawnError(`spawn ${req.file} ${err.errnoName}`, err.errnoName);
    throw err;
  }
  closeFd(fds.out[1]);
  closeFd(fds.err[1]);
  if (fds.in) closeFd(fds.in[0]);
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    const all: Buffer[] = [];
    let open = 2;
    let done = false;
    const reader = (fd: number, into: Buffer[]): net.Socket => {
      const sock = new net.Socket({ fd, readable: true, writable: false });
      sock.on('data', (d: Buffer) => { into.push(d); all.push(d); });
      sock.on('error', () => undefined);
      sock.once('close', () => { if (--open === 0) reap(1); });
      return sock;
    };
    const readers = [reader(fds.out[0], out), reader(fds.err[0], errs)];
    if (fds.in && input) {
      const w = new net.Socket({ fd: fds.in[1], readable: false, writable: true });
      w.on('error', () => undefined); // a child that exits without reading its stdin
      w.end(input);
    }
    const result = (code: number | null, signal: NodeJS.Signals | null, timedOut: boolean): RunResult => ({
      code, signal, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(errs), combined: Buffer.concat(all),
    });
    const timer = setTimeout(() => {
      try {
        kill(req.detached === true ? -pid : pid, SIGKILL);
      } catch {
        // already gone
      }
      for (const r of readers) r.destroy();
      finish(result(null, 'SIGKILL', true));
    }, req.timeoutMs);
    const finish = (r: RunResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    // Both pipes closed: the child has exited or is about to; reaped with a short backoff (a
    // timed-out child is still reaped after the call settled, so no zombie stays).
    const reap = (delayMs: number): void => {
      let w;
      try {
        w = waitid(P_PID, pid, WNOHANG);
      } catch {
        finish(result(null, null, false)); // reaped by someone else: status unknown
        return;
      }
      if (w) {
        finish(w.signaled ? result(null, signalName(w.status - 128), false) : result(w.status, null, false));
        return;
      }
      setTimeout(() => reap(Math.min(delayMs * 2, REAP_MAX_DELAY_MS)), delayMs).unref();
    };
  });
}
