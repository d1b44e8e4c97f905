// A child started with posix_spawn(3) (libc.ts posixSpawn) and reaped by a Reaper, shaped like
// the part of Node's ChildProcess the shim uses: pid, stdio streams, kill, unref, 'exit',
// 'close' and 'error'. Node's spawn() forks and blocks the calling thread until the child has
// exec'd, 6-11 ms each here even from a fresh Node; a shim spawns runc twice per container
// (create, start), and its other calls wait behind each spawn. posix_spawn blocks ~0.5 ms.
//
// The Reaper watches the pid (waitid(P_PID) on SIGCHLD), so the orphan sweep never takes it and
// nothing else can: libuv waits only for the pids it spawned itself.
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { closeFd, pipe2, posixSpawn, SyscallError } from './libc.js';

export type PosixStdio = 'pipe' | 'ignore' | number;

export interface PosixChildOptions {
  stdio: readonly [PosixStdio, PosixStdio, PosixStdio];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Own session and process group, like Node's `detached`. */
  detached?: boolean;
}

/** The exit as the reaper saw it: `status` is the code, or 128 + signal when `signaled`. */
export interface ReapedExit {
  status: number;
  signaled: boolean;
}

const SIGNAL_NAME = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNAL_NAME.has(n)) SIGNAL_NAME.set(n, name as NodeJS.Signals);

/** The name of signal `n` (SIGKILL for 9), as Node's 'exit' and 'close' events give it. */
const signalName = (n: number): NodeJS.Signals | null => SIGNAL_NAME.get(n) ?? null;

/** `file` as Node's spawn finds it: a name without a slash is looked up in the child's PATH. */
function resolveExecutable(file: string, env: NodeJS.ProcessEnv): string | undefined {
  if (file.includes('/')) return file;
  for (const dir of (env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = path.join(dir || '.', file);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether PosixChild can take these options (else Node's spawn is used). */
export function posixStdioSupported(stdio: readonly unknown[], options: Record<string, unknown>): stdio is PosixStdio[] {
  if (stdio.length !== 3) return false;
  const known = new Set(['stdio', 'cwd', 'env', 'detached']);
  if (Object.keys(options).some((k) => !known.has(k) && options[k] !== undefined)) return false;
  // an fd below 3 other than its own slot would be overwritten by an earlier dup2
  return stdio.every((s, i) => s === 'pipe' || s === 'ignore' || (typeof s === 'number' && Number.isInteger(s) && s >= 0 && (s >= 3 || s === i)));
}

let usable = true;

/** Whether processes start with posix_spawn: until it proved unusable in this process. */
export function posixSpawnChosen(): boolean {
  return usable;
}

/**
 * After an error that is not a failed call (koffi did not load, glibc lacks a call): Node's
 * spawn from now on. Tests pass `false`/`true` to run the fallback and to come back.
 */
export function posixSpawnUnusable(unusable = true): void {
  usable = !unusable;
}

export class PosixChild extends EventEmitter {
  pid: number | undefined;
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private exited = false;
  private openStreams = 0;
  private closed = false;

  /**
   * Starts `file` (a bare name is looked up in the child's PATH) and hands its pid to `watch`, which
   * must call back once with its exit. A file that cannot run emits 'error' (on the next tick,
   * as Node's spawn does) with the errno `code`.
   */
  constructor(file: string, args: readonly string[], o: PosixChildOptions, watch: (pid: number, done: (e: ReapedExit) => void) => void) {
    super();
    const opened: number[] = [];
    const pipe = (): [number, number] => {
      const p = pipe2();
      opened.push(...p);
      return p;
    };
    const childFds: (number | 'null')[] = [];
    const ours: (number | undefined)[] = [];
    const env = o.env ?? process.env;
    const resolved = resolveExecutable(file, env);
    try {
      if (resolved === undefined) throw new SyscallError('posix_spawn', constants.errno.ENOENT, file);
      o.stdio.forEach((s, i) => {
        if (s === 'pipe') {
          const [r, w] = pipe();
          childFds.push(i === 0 ? r : w);
          ours.push(i === 0 ? w : r);
        } else {
          childFds.push(s === 'ignore' ? 'null' : s);
          ours.push(undefined);
        }
      });
      this.pid = posixSpawn(resolved, [file, ...args], env, {
        stdio: childFds as [number | 'null', number | 'null', number | 'null'],
        ...(o.cwd !== undefined ? { cwd: o.cwd } : {}), setsid: o.detached === true,
      });
    } catch (err) {
      for (const fd of opened) closeFd(fd);
      // a failed call (ENOENT, EACCES, EMFILE for the pipes...) fails this spawn only; anything
      // else (koffi did not load) is thrown: posix_spawn is unusable here
      if (!(err instanceof SyscallError)) throw err;
      const e = Object.assign(new Error(`spawn ${file} ${err.errnoName}`), { code: err.errnoName, errno: -err.errno, syscall: `spawn ${file}`, path: file });
      process.nextTick(() => this.emit('error', e));
      return;
    }
    // the child's ends are its own now
    o.stdio.forEach((s, i) => {
      if (s === 'pipe') closeFd(childFds[i] as number);
    });
    ours.forEach((fd, i) => {
      if (fd === undefined) return;
      const sock = new net.Socket({ fd, readable: i !== 0, writable: i === 0 });
      this.openStreams++;
      sock.once('close', () => {
        this.openStreams--;
        this.maybeClose();
      });
      // a child that exits without reading its stdin (EPIPE); a pipe's read end has no other
      // failure to report than its end, which 'close' covers
      sock.on('error', () => undefined);
      if (i === 0) {
        this.stdin = sock;
      } else if (i === 1) {
        this.stdout = sock;
      } else {
        this.stderr = sock;
      }
    });
    watch(this.pid, (e) => {
      this.exited = true;
      if (e.signaled) this.signalCode = signalName(e.status - 128);
      else this.exitCode = e.status;
      this.emit('exit', this.exitCode, this.signalCode);
      // the write end of a stdin pipe does not close by itself
      if (this.stdin && !this.stdin.writableEnded) this.stdin.destroy();
      this.maybeClose();
    });
  }

  /** stdin, stdout and stderr, as ChildProcess.stdio has them. */
  get stdio(): [Writable | null, Readable | null, Readable | null] {
    return [this.stdin, this.stdout, this.stderr];
  }

  /** Signals the child unless it was reaped (its pid may belong to someone else by then). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.exited) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Nothing of the child holds the event loop but its stdio streams (unref those to let go). */
  unref(): void {}

  ref(): void {}

  private maybeClose(): void {
    if (this.closed || !this.exited || this.openStreams > 0) return;
    this.closed = true;
    this.emit('close', this.exitCode, this.signalCode);
  }
}
