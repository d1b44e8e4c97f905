// Small process and machine helpers: PSS from smaps_rollup, finding processes by argv, running
// commands with a deadline, waiting for conditions, and the machine description for the report.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { DeadlineExceededError, InternalError } from '../common/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const rand = (): string => Math.random().toString(36).slice(2, 8);
export const nowMs = (): number => performance.now();

/** CPU time (user + system) of one process and its threads so far, in ms (0 when it is gone). */
export function cpuMs(pid: number): number {
  try {
    // Fields after the `(comm)`: state is the 3rd field, utime and stime the 14th and 15th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

/** Proportional set size of one process in KiB (0 when it is gone). */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return [];
  }
}

/** Pids whose argv satisfies `match`. */
export function findPids(match: (argv: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const argv = argvOf(Number(e));
    if (argv.length > 0 && match(argv)) out.push(Number(e));
  }
  return out;
}

/** Long-lived shim processes started with `-address <addr>` (not their `start`/`delete` actions). */
export function shimPidsForAddress(address: string): number[] {
  return findPids((argv) => {
    const at = argv.indexOf('-address');
    return at >= 0 && argv[at + 1] === address && !argv.includes('start') && !argv.includes('delete');
  });
}

export function killPids(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a deadline; resolves with its exit code (never rejects on a non-zero code). */
export function runCmd(file: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 30_000, env: opts.env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
      if (e && e.killed) reject(new DeadlineExceededError(`${file} ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 30_000} ms`));
      else if (e && typeof e.code !== 'number') reject(new InternalError(`cannot run ${file}: ${e.message}`, { cause: e }));
      else resolve({ code: e ? (e.code as unknown as number) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like runCmd but a non-zero exit is an InternalError carrying stderr. */
export async function mustRun(file: string, args: readonly string[], opts: Parameters<typeof runCmd>[2] = {}): Promise<string> {
  const r = await runCmd(file, args, opts);
  if (r.code !== 0) throw new InternalError(`${file} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r.stdout;
}

/** Polls `cond` every `everyMs` until it holds; DeadlineExceededError after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new DeadlineExceededError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Machine {
  host: string;
  cores: number;
  cpu: string;
  memoryMiB: number;
  kernel: string;
  node: string;
  runc: string;
  containerd: string;
}

export function describeMachine(): Machine {
  const first = (cmd: string, args: string[]) => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0]?.trim() ?? '';
  return {
    host: os.hostname(),
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 1048576),
    kernel: os.release(),
    node: process.version,
    runc: first('runc', ['--version']),
    containerd: first('containerd', ['--version']),
  };
}

/**
 * Runs a command whose children may keep its stdio open (`runc run -d` hands its fds to the
 * container): stdio is /dev/null, and only the exit of the command itself is awaited.
 */
export function runNoStdio(file: string, args: readonly string[], timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new DeadlineExceededError(`${file} ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new InternalError(`cannot run ${file}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new InternalError(`${file} ${args.join(' ')} failed (${code ?? signal})`));
    });
  });
}

const CGROUP_FS = '/sys/fs/cgroup';

/** Removes cgroup directory `rel` (e.g. /bench-x) and everything below it from every hierarchy, deepest first; runtimes leave their pod parents behind. */
export async function removeCgroupTree(rel: string): Promise<void> {
  const hierarchies = [CGROUP_FS, ...(await readdir(CGROUP_FS, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => path.join(CGROUP_FS, e.name))];
  const remove = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // not in this hierarchy
    }
    for (const e of entries) if (e.isDirectory()) await remove(path.join(dir, e.name));
    await rmdir(dir).catch(() => undefined);
  };
  for (const h of hierarchies) await remove(path.join(h, rel));
}
