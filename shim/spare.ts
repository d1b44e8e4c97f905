// A warm spare server (issue #9): a shim server booted ahead of time (Node and the bundle loaded,
// the start path's modules imported) that the launcher's `start` adopts, so `start` → serving
// costs a pipe round trip instead of a Node boot. The launcher (shim/containerd-shim-berth-v2)
// spawns it after a start (niced; with what a cold server gets from its caller: cgroup, env, OOM
// score, own session) into `<socket dir>/berth-spares/s.XXXXXXXX/` (root-only) holding `key`
// (address, namespace, node, bundle path), the FIFOs `req` and `rep` and `pid`; the spare writes
// `ready` once it waits.
//
// Handshake (docs/shim.md): the launcher claims the spare by creating `claim` exclusively, writes
// "<its pid> <its argc> <its stdin fd>\n" to `req` and reads one line from `rep`: "<its pid> ok:<address>",
// "<its pid> err:<message>" or anything else / EOF (the spare died) → a cold start. The spare
// reads the start request from /proc/<launcher pid>: the argv (its last argc words), the env,
// the cwd (the bundle) and the stdin (the runtime options, via /proc/<pid>/fd/<fd>); the caller
// for the OOM score is the launcher's parent. A bundle already served by its pod's shim is
// answered without adopting (the spare stays a spare); otherwise the spare becomes the pod's
// server exactly as a cold start would (shim/start.ts), with that env, cwd, the launcher's nice
// value and the start argv written over its own (so `ps` and the tools that find shims by argv
// see a shim).
//
// Lifecycle: a spare exits when no pod server of its (address, namespace) is alive (the servers
// register in shim/spare-group.ts; polled every second), after 10 minutes unused, when the
// node binary or the bundle file changed (no old code is adopted), when its directory is
// removed, and on SIGTERM. It leaves only unclaimed: it takes the claim itself first.
import {
  closeSync, constants, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeSync,
} from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, toStatus, writeFileAtomicSync } from '../common/index.js';
import { socketAnswers } from '../proto/index.js';
import { isChildSubreaper, pidfdGetfd, pidfdOpen } from '../sys/index.js';
import { parseFlags, serverArgv, type ShimFlags } from './flags.js';
import { SPARES_ENV, liveServer, trustedSparesRoot } from './spare-group.js';
import { CALLER_PID_ENV, START_FD_ENV, startTarget, writeAddress } from './start.js';

/** The env var naming the spare's own directory (set by the launcher). */
const SPARE_DIR_ENV = 'BERTH_SHIM_SPARE_DIR';

const POLL_MS = 1_000;
const IDLE_MS = 10 * 60_000;
// A claim with no request this long after it was seen: its launcher died in between.
const CLAIM_GRACE_MS = 5_000;

/** What `start` asked for, read from the launcher's /proc entry. */
interface StartRequest {
  pid: number;
  /** The launcher's fd holding its stdin (fd 0 is busy reading the answer). */
  stdinFd: number;
  flags: ShimFlags;
  env: Record<string, string>;
  cwd: string;
  callerPid: number;
  nice: number;
}

export async function runSpare(flags: ShimFlags): Promise<void> {
  const dir = process.env[SPARE_DIR_ENV] ?? '';
  delete process.env[SPARE_DIR_ENV];
  const root = trustedSparesRoot(path.dirname(dir));
  if (!root || path.dirname(dir) !== root || !/^s\.[A-Za-z0-9]+$/.test(path.basename(dir))) {
    throw new InvalidArgumentError('spare: not started by the launcher in its spare directory');
  }
  // The boot work a cold start would do after Node is up.
  const [{ serve }] = await Promise.all([import('./server.js'), import('./shim-cgroup.js')]);
  isChildSubreaper(); // koffi and libc loaded: the server's first spawn needs them, pidfd_getfd may

  const booted = identity();
  const claim = path.join(dir, 'claim');
  const repPath = path.join(dir, 'rep');
  // Both FIFOs are held read-write: opening never blocks, `req` never reads EOF, and the
  // launcher's read of `rep` sees EOF only when this process dies.
  const input = new Socket({ fd: openSync(path.join(dir, 'req'), constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
  let rep = openSync(repPath, constants.O_RDWR);
  let busy = false;
  let lastUsed = Date.now();
  let claimSeen = 0;
  let live: number | undefined;

  const leave = (): never => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  // Only an unclaimed spare leaves: a launcher that already claimed it gets its answer.
  const retire = (): void => {
    try {
      closeSync(openSync(claim, 'wx'));
    } catch {
      return;
    }
    leave();
  };
  const answer = (pid: number, line: string): void => {
    writeSync(rep, `${pid} ${line}\n`);
    // Reopened so a reply its launcher never read is not left for the next one.
    closeSync(rep);
    rep = openSync(repPath, constants.O_RDWR);
  };
  const rearm = (): void => {
    rmSync(claim, { force: true });
    lastUsed = Date.now();
    busy = false;
  };

  const poll = setInterval(() => {
    if (busy) return;
    if (!existsSync(path.join(dir, 'ready'))) leave();
    if (existsSync(claim)) {
      claimSeen ||= Date.now();
      if (Date.now() - claimSeen > CLAIM_GRACE_MS) leave();
      return;
    }
    claimSeen = 0;
    live = liveServer(root, flags.address, flags.namespace, live);
    if (live === undefined || Date.now() - lastUsed > IDLE_MS || identity() !== booted) retire();
  }, POLL_MS);

  const handle = async (line: string): Promise<void> => {
    busy = true;
    const launcher = Number(line.split(' ')[0]) || 0;
    if (identity() !== booted) {
      answer(launcher, 'cold:the bundle or node changed');
      leave();
    }
    let req: StartRequest;
    let stdinFd: number;
    try {
      req = readRequest(line, flags);
      stdinFd = openLauncherFd(req.pid, req.stdinFd);
    } catch (err) {
      answer(launcher, `cold:${toStatus(err).message}`); // the reason, for a trace of the launcher
      return rearm();
    }
    let target: ReturnType<typeof startTarget>;
    try {
      target = startTarget(req.flags, req.cwd);
      // A container of a pod whose shim serves already: answered as a cold start would, and
      // this process stays the group's spare.
      if (await socketAnswers(target.socketPath)) {
        writeAddress(req.cwd, target.address);
        answer(req.pid, `ok:${target.address}`);
        closeSync(stdinFd);
        return rearm();
      }
    } catch (err) {
      answer(req.pid, `err:${toStatus(err).message}`);
      closeSync(stdinFd);
      return rearm();
    }
    clearInterval(poll);
    input.destroy();
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    rmSync(dir, { recursive: true, force: true });
    adopt(req, root, rep);
    try {
      await serve(req.flags, stdinFd);
    } catch (err) {
      writeSync(rep, `err:${toStatus(err).message}`);
      process.exit(1);
    }
  };

  let buffered = '';
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    if (busy) return; // one claimer at a time: nothing else may write
    buffered += chunk;
    const nl = buffered.indexOf('\n');
    if (nl < 0) return;
    const line = buffered.slice(0, nl);
    buffered = '';
    void handle(line);
  });
  process.on('SIGTERM', leave);
  process.on('SIGINT', leave);
  // last, and whole (temp + rename): `ready` means a waiting spare with its pid in it
  writeFileAtomicSync(path.join(dir, 'ready'), String(process.pid), { tmp: path.join(dir, '.ready') });
}

/** Becomes the process a cold start of `req` would have made; the report prefix goes first. */
function adopt(req: StartRequest, root: string, rep: number): void {
  for (const k of Object.keys(process.env)) if (!(k in req.env)) delete process.env[k];
  Object.assign(process.env, req.env);
  delete process.env.NODE_EXTRA_CA_CERTS;
  process.env[SPARES_ENV] = root;
  process.env[START_FD_ENV] = String(rep);
  process.env[CALLER_PID_ENV] = String(req.callerPid);
  process.chdir(req.cwd);
  renice(req.nice);
  rewriteArgv(serverArgv(req.flags));
  writeSync(rep, `${req.pid} `);
}

// The launcher's stdin: reopened by path (a pipe, as containerd gives it, a file, /dev/null), or,
// for a socket (Node's `stdio: 'pipe'` is a socketpair: berth's own daemon), duplicated from
// the launcher with pidfd_getfd.
function openLauncherFd(pid: number, fd: number): number {
  try {
    return openSync(`/proc/${pid}/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
  }
  const pidfd = pidfdOpen(pid);
  try {
    return pidfdGetfd(pidfd, fd);
  } finally {
    closeSync(pidfd);
  }
}

function readRequest(line: string, own: ShimFlags): StartRequest {
  const m = /^([1-9]\d*) ([1-9]\d*) (\d+)$/.exec(line);
  if (!m) throw new InvalidArgumentError('spare: malformed request');
  const pid = Number(m[1]);
  const argc = Number(m[2]);
  if (statSync(`/proc/${pid}`).uid !== process.getuid?.()) throw new InvalidArgumentError('spare: request from another user');
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  if (argc > argv.length) throw new InvalidArgumentError('spare: request argc beyond argv');
  const flags = parseFlags(argv.slice(argv.length - argc));
  if (flags.action !== 'start' || flags.address !== own.address || flags.namespace !== own.namespace) {
    throw new InvalidArgumentError('spare: not a start of this spare\'s group');
  }
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const callerPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return { pid, stdinFd: Number(m[3]), flags, env, cwd: readlinkSync(`/proc/${pid}/cwd`), callerPid, nice: os.getPriority(pid) };
}

// The node binary and the bundle as files: a change of either retires the spare.
function identity(): string {
  return [process.argv[1] as string, process.execPath]
    .map((p) => {
      try {
        const s = statSync(p);
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'gone';
      }
    })
    .join(' ');
}

// The spare boots at nice 10; nice values are per thread on Linux, so every thread is set back
// (threads and children made later inherit the main thread's). Lowering needs CAP_SYS_NICE.
function renice(to: number): void {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      os.setPriority(Number(tid), to);
    } catch {
      // stays niced
    }
  }
}

// The setproctitle trick: the argv area (arg_start..arg_end in /proc/self/stat) is overwritten,
// NUL-padded, through /proc/self/mem; the launcher starts the spare with a padding word so a
// start's argv fits. Node keeps its own copy of argv, so only /proc/<pid>/cmdline changes.
function rewriteArgv(args: readonly string[]): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[45]);
    const end = Number(fields[46]);
    const head = readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, 2 + process.execArgv.length);
    const text = Buffer.from(`${[...head, ...args].join('\0')}\0`);
    if (!(start > 0) || text.length > end - start) return false;
    const area = Buffer.alloc(end - start);
    text.copy(area);
    const fd = openSync('/proc/self/mem', 'r+');
    try {
      writeSync(fd, area, 0, area.length, start);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch {
    return false;
  }
}
