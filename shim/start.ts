// The `start` action (docs/shim.md "Process contract"), split so that ONE Node process boots on the path from
// `start` to serving:
// - the long-lived server does the work itself (`startInPlace`): it binds the pod's socket (or
//   finds the pod's shim already serving it), writes `address` and `shim.pid`, joins the shim
//   cgroup named on stdin, makes itself a bit more OOM-killable than its caller, registers the
//   Task service, and only then reports `ok:<address>` (or `err:<message>`) on the report fd
//   (BERTH_SHIM_START_FD) and closes it;
// - the short-lived `start` process only detaches that server (own session, no pipe of the
//   caller held) and prints what it reports. The installed launcher (a /bin/sh script) does this
//   with `setsid -f` and costs ~2 ms; `node containerd-shim-berth-v2.cjs ... start` does the same
//   from Node (`startDetached`) for callers that run the bundle directly.
// containerd reads stdout and stderr as one buffer, so nothing but the address may be printed.
import {
  chmodSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, InternalError, toStatus, writeFileAtomicSync } from '../common/index.js';
import { serverArgv, type ShimFlags } from './flags.js';
import { groupKey, readAnnotations, shimSocketAddress } from './socket-address.js';

/** The env var naming the fd a server started by `start` reports on. */
export const START_FD_ENV = 'BERTH_SHIM_START_FD';
/** The pid whose oom_score_adj the server starts from (the daemon that ran `start`). */
export const CALLER_PID_ENV = 'BERTH_SHIM_CALLER_PID';

const REPORT_TIMEOUT_MS = 20_000;

/** What the server needs to know about the socket it is to serve. */
export interface StartTarget {
  address: string;
  socketPath: string;
}

export function startTarget(flags: ShimFlags, bundle = process.cwd()): StartTarget {
  const key = groupKey(readAnnotations(bundle), flags.id);
  const address = shimSocketAddress(flags.address, flags.namespace, key);
  return { address, socketPath: address.slice('unix://'.length) };
}

/** The server's half of `start`, run before it serves; see the header. */
export interface InPlaceStart {
  /** Binds the socket; resolves false when the pod's shim already serves it (nothing is left). */
  bind(listen: (socketPath: string) => Promise<void>): Promise<boolean>;
  /** After bind: `address`, `shim.pid`, shim cgroup, OOM score. Undone if it throws. */
  settle(): Promise<void>;
  /** Reports success (the address) to `start` and lets go of the report fd. */
  reportOk(): void;
  /** Reports a failure; the caller then exits non-zero. */
  reportError(err: unknown): void;
  readonly target: StartTarget;
}

/**
 * `stdinFd`: where the runtime options are read from instead of fd 0 (an adopted spare reads the
 * launcher's stdin through `/proc/<pid>/fd/0`); it is closed once read.
 */
export function inPlaceStart(flags: ShimFlags, reportFd: number, bundle = process.cwd(), stdinFd?: number): InPlaceStart {
  const target = startTarget(flags, bundle);
  const undo: (() => void)[] = [];
  let reported = false;
  const report = (line: string): void => {
    if (reported) return;
    reported = true;
    try {
      writeSync(reportFd, line);
    } finally {
      closeSync(reportFd);
    }
  };
  // Children (runc, the pod guard) must not see these.
  const callerPid = Number(process.env[CALLER_PID_ENV] ?? process.ppid);
  delete process.env[START_FD_ENV];
  delete process.env[CALLER_PID_ENV];
  return {
    target,
    async bind(listen) {
      mkdirSync(path.dirname(target.socketPath), { recursive: true, mode: 0o700 });
      try {
        await listen(target.socketPath);
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        writeAddress(bundle, target.address);
        return false;
      }
      undo.push(() => rmSync(target.socketPath, { force: true }));
      return true;
    },
    async settle() {
      try {
        chmodSync(target.socketPath, 0o600);
        undo.push(() => rmSync(path.join(bundle, 'address'), { force: true }));
        writeAddress(bundle, target.address);
        undo.push(() => rmSync(path.join(bundle, 'shim.pid'), { force: true }));
        writeFileSync(path.join(bundle, 'shim.pid'), String(process.pid));
        const options = await (stdinFd === undefined ? readStdin(2_000) : readFd(stdinFd, 2_000));
        if (options.length > 0) {
          const { shimCgroupOf, joinCgroup } = await import('./shim-cgroup.js');
          const cgroup = shimCgroupOf(options);
          if (cgroup) joinCgroup(process.pid, cgroup);
        }
        raiseOomScore(callerPid);
      } catch (err) {
        for (const step of undo.reverse()) {
          try {
            step();
          } catch {
            // best effort: the error that made start fail is the one to report
          }
        }
        throw err;
      }
    },
    reportOk: () => report(`ok:${target.address}`),
    reportError: (err) => report(`err:${toStatus(err).message}`),
  };
}

// containerd writes the task's runtime options (a protobuf Any) on stdin and closes it, or gives
// no stdin at all (/dev/null). A terminal is never read. Afterwards fd 0 is /dev/null: the
// caller's pipe is not held for the server's lifetime.
function readStdin(timeoutMs: number): Promise<Buffer> {
  const release = (): void => {
    try {
      closeSync(0);
    } catch {
      // already closed
    }
    openSync('/dev/null', 'r'); // the lowest free fd: 0
  };
  if (process.stdin.isTTY) {
    release();
    return Promise.resolve(Buffer.alloc(0));
  }
  return collect(process.stdin, timeoutMs, () => process.stdin.once('close', release));
}

// Another process's stdin opened by path: a pipe is read as a stream (never blocking), a file
// or /dev/null to its end, a terminal not at all.
async function readFd(fd: number, timeoutMs: number): Promise<Buffer> {
  const st = fstatSync(fd);
  if (st.isFIFO() || st.isSocket()) {
    const { Socket } = await import('node:net');
    return collect(new Socket({ fd, readable: true, writable: false }), timeoutMs, () => undefined);
  }
  try {
    if (st.isCharacterDevice() && (await import('node:tty')).isatty(fd)) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for (let n = -1; n !== 0; ) {
      const chunk = Buffer.alloc(65_536);
      n = readSync(fd, chunk);
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

// Everything `stream` gives until its end (or `timeoutMs`), then the stream is destroyed.
function collect(stream: NodeJS.ReadableStream & { destroy(): void }, timeoutMs: number, onDestroy: () => void): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      stream.removeAllListeners();
      onDestroy();
      stream.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, timeoutMs);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', done);
    stream.once('error', done);
  });
}

/** Writes `<bundle>/address` atomically (`.address` + rename). */
export function writeAddress(bundle: string, address: string): void {
  writeFileAtomicSync(path.join(bundle, 'address'), address, { tmp: path.join(bundle, '.address') });
}

// The server is slightly more killable than the daemon that ran `start` (its oom_score_adj + 1),
// but never made less killable than it already is: without CAP_SYS_RESOURCE only raising works.
function raiseOomScore(callerPid: number): void {
  try {
    const caller = Number(readFileSync(`/proc/${callerPid}/oom_score_adj`, 'utf8').trim());
    const current = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
    const target = Math.min(1000, Math.max(current, caller + 1));
    if (target !== current) writeFileSync('/proc/self/oom_score_adj', String(target));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOENT' && code !== 'ESRCH') throw err;
  }
}

/**
 * `start` run as `node <bundle> ... start`: the server is this script again without the action,
 * detached (own session), handed our stdin and a report pipe as fd 3; resolves with its address.
 */
export async function startDetached(flags: ShimFlags, bundle = process.cwd()): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, [START_FD_ENV]: '3', [CALLER_PID_ENV]: String(process.ppid) };
  delete env.NODE_EXTRA_CA_CERTS; // ~57 ms per Node start
  const script = process.argv[1] as string;
  const { spawnHelper } = await import('../sys/index.js'); // not on the server's start path
  return new Promise((resolve, reject) => {
    const child = spawnHelper(process.execPath, [...process.execArgv, script, ...serverArgv(flags)], {
      cwd: bundle, env, detached: true, stdio: [process.stdin.isTTY ? 'ignore' : 0, 'ignore', 'ignore', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new InternalError('shim start: the server did not report within 20 s'));
    }, REPORT_TIMEOUT_MS);
    const report = child.stdio[3] as NodeJS.ReadableStream;
    report.setEncoding('utf8');
    report.on('data', (c: string) => (out += c));
    report.once('end', () => {
      clearTimeout(timer);
      child.unref();
      if (out.startsWith('ok:')) resolve(out.slice(3));
      else reject(new InternalError(out.startsWith('err:') ? out.slice(4) : 'shim start: the server exited without reporting'));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new InternalError(`shim start: cannot start the server: ${e.message}`, { cause: e }));
    });
  });
}
