// Runs short-lived helper processes (CNI plugins, `unshare` for a netns, `<shim> start`) to
// completion. They start the one way sys/ starts every process, `spawnHelper` (reaper.ts): with
// posix_spawn(3) through koffi (~0.5 ms on the calling thread, no copy of the memory map; Node's
// spawn() forks and blocks the thread 6-11 ms per call on the 2-core VM, and a pod start runs
// several helpers while its pause task is being made), reaped by a Reaper on SIGCHLD. Should
// posix_spawn be unusable (koffi does not load), Node's spawn() takes over.
//
// A timed-out child (and with `detached`, its process group) is SIGKILLed and the call settles
// at once with `timedOut`; the reaper still reaps the child when it goes.
import { spawnHelper, type SpawnedChild } from './reaper.js';

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

/** Runs `req.file` to completion without stalling the event loop; rejects only when it cannot start it. */
export function runProcess(req: RunRequest): Promise<RunResult> {
  const input = req.input === undefined ? undefined : typeof req.input === 'string' ? Buffer.from(req.input) : req.input;
  return new Promise((resolve, reject) => {
    let child: SpawnedChild;
    try {
      child = spawnHelper(req.file, req.args ?? [], {
        stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: req.env ?? process.env,
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}), ...(req.detached !== undefined ? { detached: req.detached } : {}),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      reject(new SpawnError(e.message, e.code));
      return;
    }
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    const all: Buffer[] = [];
    let done = false;
    const result = (code: number | null, signal: NodeJS.Signals | null, timedOut: boolean): RunResult => ({
      code, signal, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(errs), combined: Buffer.concat(all),
    });
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settle();
    };
    const timer = setTimeout(() => {
      // not yet reaped, so the pid is still this child's (a zombie at worst)
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(req.detached === true ? -child.pid : child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(() => resolve(result(null, 'SIGKILL', true)));
    }, req.timeoutMs);
    child.stdout?.on('data', (d: Buffer) => { out.push(d); all.push(d); });
    child.stderr?.on('data', (d: Buffer) => { errs.push(d); all.push(d); });
    child.once('error', (e: NodeJS.ErrnoException) => finish(() => reject(new SpawnError(e.message, e.code))));
    // 'close': exited and both output pipes drained
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => finish(() => resolve(result(code, signal, false))));
    if (input && child.stdin) {
      child.stdin.on('error', () => undefined); // a child that exits without reading its stdin
      child.stdin.end(input);
    }
  });
}
