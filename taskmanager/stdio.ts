// Stdio FIFOs of a task's processes, kept in <bundle>/io so a restarted daemon finds them again:
//   io/<proc>-stdin, io/<proc>-stdout, io/<proc>-stderr   (proc = "init" or "exec-<exec id>")
// The daemon holds every FIFO open O_RDWR (see fifo.ts): output written while it is down waits in
// the pipe (up to the pipe size) and is read after reload reopens the FIFOs.
import { readdir, rm } from 'node:fs/promises';
import type net from 'node:net';
import { joinWithin, silentLogger, type Logger } from '../common/index.js';
import { makeFifo, openFifoReader, openFifoWriter } from './fifo.js';
import type { StdioPaths } from './task-client.js';

export interface ProcessStdio {
  paths: StdioPaths;
  stdin?: net.Socket;
  stdout?: net.Socket;
  stderr?: net.Socket;
}

export const procName = (execId: string): string => (execId === '' ? 'init' : `exec-${execId}`);

function fifoPaths(ioDir: string, execId: string): { stdin: string; stdout: string; stderr: string } {
  const p = procName(execId);
  return { stdin: joinWithin(ioDir, `${p}-stdin`), stdout: joinWithin(ioDir, `${p}-stdout`), stderr: joinWithin(ioDir, `${p}-stderr`) };
}

/**
 * Every stream handed out gets an 'error' listener: a caller writing to a stdin it (or CloseIO)
 * already ended, or a FIFO read failing, must be a log line, not an uncaught 'error' event that
 * ends the daemon. Callers may add their own listeners as well.
 */
function guarded(s: net.Socket, stream: string, log: Logger): net.Socket {
  s.on('error', (err) => log.warn({ err, stream }, 'task stdio stream error'));
  return s;
}

/** Creates and opens the FIFOs of one process. With a terminal there is no stderr. */
export async function createStdio(
  ioDir: string, execId: string, opts: { stdin?: boolean; terminal?: boolean }, log: Logger = silentLogger,
): Promise<ProcessStdio> {
  const f = fifoPaths(ioDir, execId);
  const terminal = opts.terminal ?? false;
  const out: ProcessStdio = { paths: { terminal, stdin: opts.stdin ? f.stdin : '', stdout: f.stdout, stderr: terminal ? '' : f.stderr } };
  try {
    if (opts.stdin) {
      await makeFifo(f.stdin);
      out.stdin = guarded(openFifoWriter(f.stdin), f.stdin, log);
    }
    await makeFifo(f.stdout);
    out.stdout = guarded(openFifoReader(f.stdout), f.stdout, log);
    if (!terminal) {
      await makeFifo(f.stderr);
      out.stderr = guarded(openFifoReader(f.stderr), f.stderr, log);
    }
    return out;
  } catch (err) {
    closeStdio(out);
    await removeStdio(ioDir, execId);
    throw err;
  }
}

/** Reopens the FIFOs of a process that exist in `ioDir` (after a daemon restart). */
export async function reopenStdio(ioDir: string, execId: string, log: Logger = silentLogger, listing?: readonly string[]): Promise<ProcessStdio> {
  const names = new Set(listing ?? (await readdir(ioDir).catch(() => [] as string[])));
  const f = fifoPaths(ioDir, execId);
  const p = procName(execId);
  const has = (suffix: string): boolean => names.has(`${p}-${suffix}`);
  const out: ProcessStdio = {
    paths: { terminal: !has('stderr'), stdin: has('stdin') ? f.stdin : '', stdout: has('stdout') ? f.stdout : '', stderr: has('stderr') ? f.stderr : '' },
  };
  try {
    if (has('stdin')) out.stdin = guarded(openFifoWriter(f.stdin), f.stdin, log);
    if (has('stdout')) out.stdout = guarded(openFifoReader(f.stdout), f.stdout, log);
    if (has('stderr')) out.stderr = guarded(openFifoReader(f.stderr), f.stderr, log);
  } catch (err) {
    closeStdio(out); // the ones already open must not leak their fds
    throw err;
  }
  return out;
}

export function closeStdio(s: ProcessStdio): void {
  s.stdin?.destroy();
  s.stdout?.destroy();
  s.stderr?.destroy();
}

export async function removeStdio(ioDir: string, execId: string): Promise<void> {
  const f = fifoPaths(ioDir, execId);
  await Promise.all([f.stdin, f.stdout, f.stderr].map((p) => rm(p, { force: true })));
}

/** Exec ids whose FIFOs are present in `ioDir`. */
export async function execIdsIn(ioDir: string, listing?: readonly string[]): Promise<string[]> {
  const names = listing ?? (await readdir(ioDir).catch(() => [] as string[]));
  const ids = new Set<string>();
  for (const n of names) {
    const m = /^exec-(.+)-(stdin|stdout|stderr)$/.exec(n);
    if (m) ids.add(m[1]!);
  }
  return [...ids];
}
