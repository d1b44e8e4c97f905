// berthctl's views that read local files rather than the CRI: CRI-format logs (print, follow),
// the daemon's content ingest directory (pull progress) and /proc (per-pod shim overhead).
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { table } from './berthctl-output.js';

const CRI_LINE = /^(\S+) (stdout|stderr) ([PF]) (.*)$/;

/** Turns CRI log lines into the container's output, joining partial (P) lines. */
class LogPrinter {
  private partial = '';
  private rest = '';
  constructor(private readonly timestamps: boolean) {}

  feed(text: string): void {
    const lines = (this.rest + text).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      const m = CRI_LINE.exec(line);
      if (!m) continue;
      this.partial += m[4];
      if (m[3] === 'P') continue;
      const out = m[2] === 'stderr' ? process.stderr : process.stdout;
      out.write(this.timestamps ? `${m[1]} ${this.partial}\n` : `${this.partial}\n`);
      this.partial = '';
    }
  }

  end(): void {
    this.feed('\n');
    if (this.partial !== '') process.stdout.write(`${this.partial}\n`);
    this.partial = '';
  }
}

/** Prints a CRI log file's content (without the timestamp/stream/tag prefix unless asked). */
export function printLog(file: string, timestamps: boolean): void {
  const p = new LogPrinter(timestamps);
  p.feed(readFileSync(file, 'utf8'));
  p.end();
}

const FOLLOW_MS = 200;

/**
 * Prints the log, then what is appended to it, until `finished()` says the container is done
 * (the log is read once more after that). A rotated log (ReopenContainerLog: new inode) is
 * followed from its start.
 */
export async function followLog(file: string, timestamps: boolean, finished: () => Promise<boolean>): Promise<void> {
  const p = new LogPrinter(timestamps);
  let fd = -1;
  let ino = -1;
  let pos = 0;
  const buf = Buffer.alloc(64 * 1024);
  const drain = (): void => {
    try {
      const st = statSync(file);
      if (st.ino !== ino) {
        if (fd >= 0) closeSync(fd);
        fd = openSync(file, 'r');
        ino = fstatSync(fd).ino;
        pos = 0;
      }
    } catch {
      return; // not there (yet, or between rotation steps)
    }
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      p.feed(buf.subarray(0, n).toString('utf8'));
    }
  };
  try {
    for (;;) {
      drain();
      if (await finished()) break;
      await new Promise((r) => setTimeout(r, FOLLOW_MS));
    }
    drain();
    p.end();
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** Bytes in the daemon's content ingest directory now, per file (blobs being downloaded). */
function ingestSizes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      out.set(n, statSync(path.join(dir, n)).size);
    } catch {
      // committed between readdir and stat
    }
  }
  return out;
}

const PROGRESS_MS = 150;

/**
 * Runs `pull` while showing the bytes the daemon has downloaded so far: the files in its content
 * store's ingest directory `ingestDir` (image/layout.ts says where), as `ctr pull` reads the
 * content store's active ingests. A finished blob leaves the ingest directory and is counted at
 * its last seen size.
 */
export async function withPullProgress<T>(ingestDir: string, tty: boolean, pull: () => Promise<T>): Promise<T> {
  if (!tty) return pull();
  const bar = new cliProgress.SingleBar({
    format: 'pulling {bytes} at {rate}/s, {active} blob(s) downloading',
    stream: process.stderr, hideCursor: true, clearOnComplete: true,
  });
  const seen = new Map<string, number>();
  const t0 = Date.now();
  bar.start(1, 0, { bytes: '0 B', rate: '0 B', active: 0 });
  const timer = setInterval(() => {
    const now = ingestSizes(ingestDir);
    for (const [n, size] of now) seen.set(n, size);
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    bar.update(0, { bytes: humanBytes(total), rate: humanBytes(Math.round(total / secs)), active: now.size });
  }, PROGRESS_MS);
  try {
    return await pull();
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

interface ProcMem {
  pss: number;
  rss: number;
  threads: number;
}

function procMem(pid: number): ProcMem | undefined {
  try {
    const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(roll)?.[1] ?? 0) * 1024;
    const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { pss: kib('Pss'), rss: kib('Rss'), threads };
  } catch {
    return undefined;
  }
}

const ppidOf = (pid: number): number => {
  try {
    // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
};

const childrenOf = (pid: number): number[] => {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    // gone
  }
  return out;
};

const mntNs = (pid: number): string => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return '';
  }
};

export interface PodShimRow {
  id: string;
  name: string;
  runtime: string;
  /** The pod's pause process (its parent is the pod's shim). */
  pausePid: number;
  containers: number;
}

/** A pod's shim as `berthctl shims` reports it (bytes and counts; shim fields absent when not found). */
export interface PodShim {
  podSandboxId: string;
  name: string;
  runtime: string;
  containers: number;
  shimPid?: number;
  shim?: string;
  procs?: number;
  threads?: number;
  rssBytes?: number;
  pssBytes?: number;
}

/**
 * One entry per pod: the shim serving it (the pause process's parent), the shim's own helper
 * processes (children in the shim's mount namespace, i.e. not containers), and their memory.
 */
export function podShims(pods: PodShimRow[]): PodShim[] {
  return pods.map((p) => {
    const row: PodShim = { podSandboxId: p.id, name: p.name, runtime: p.runtime, containers: p.containers };
    const shim = p.pausePid > 0 ? ppidOf(p.pausePid) : 0;
    let argv: string[] = [];
    try {
      argv = readFileSync(`/proc/${shim}/cmdline`, 'utf8').split('\0');
    } catch {
      argv = [];
    }
    const bin = argv.map((a) => path.basename(a)).find((a) => a.startsWith('containerd-shim'))?.replace(/\.m?js$/, '');
    if (!shim || !bin) return row;
    const ns = mntNs(shim);
    const procs = [shim, ...childrenOf(shim).filter((c) => mntNs(c) === ns)];
    const mems = procs.map(procMem).filter((m): m is ProcMem => m !== undefined);
    const sum = (k: keyof ProcMem) => mems.reduce((a, m) => a + m[k], 0);
    return { ...row, shimPid: shim, shim: bin, procs: procs.length, threads: sum('threads'), rssBytes: sum('rss'), pssBytes: sum('pss') };
  });
}

/** The shims as a table (`id` shortened by the caller) and the PSS per pod in all. */
export function shimsTable(shims: PodShim[], short: (id: string) => string): void {
  const rows = [['POD ID', 'NAME', 'RUNTIME', 'SHIM PID', 'SHIM', 'CONTAINERS', 'PROCS', 'THREADS', 'RSS', 'PSS']];
  const found = shims.filter((s) => s.shimPid !== undefined);
  for (const s of shims) {
    rows.push(s.shimPid === undefined
      ? [short(s.podSandboxId), s.name, s.runtime, '-', '-', String(s.containers), '-', '-', '-', '-']
      : [short(s.podSandboxId), s.name, s.runtime, String(s.shimPid), s.shim ?? '', String(s.containers), String(s.procs),
        String(s.threads), humanBytes(s.rssBytes ?? 0), humanBytes(s.pssBytes ?? 0)]);
  }
  table(rows);
  const total = found.reduce((a, s) => a + (s.pssBytes ?? 0), 0);
  if (found.length > 0) process.stdout.write(`\n${found.length} shim(s), PSS ${humanBytes(total)} in all, ${humanBytes(Math.round(total / found.length))} per pod\n`);
}
