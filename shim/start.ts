// The `start` action (shim-v2.md §2-3): find or create the pod's socket, hand the listener to a
// detached long-lived server, write `address`, print the address. containerd reads stdout and
// stderr as one buffer, so nothing but the address may ever be printed here.
// Only node built-ins and tiny modules are loaded on this path (it runs once per container).
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { InternalError } from '../common/index.js';
import { serverArgv, type ShimFlags } from './flags.js';
import { groupKey, readAnnotations, shimSocketAddress } from './socket-address.js';

export interface StartResult {
  address: string;
  /** Pid of the server started now; undefined when a shim of the group was already serving. */
  pid: number | undefined;
}

export async function startShim(flags: ShimFlags, bundle = process.cwd()): Promise<StartResult> {
  const key = groupKey(readAnnotations(bundle), flags.id);
  const address = shimSocketAddress(flags.address, flags.namespace, key);
  const socketPath = address.slice('unix://'.length);
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });

  let server: net.Server;
  try {
    server = await listen(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await canConnect(socketPath, 100)) {
      writeAddress(bundle, address);
      return { address, pid: undefined };
    }
    unlinkSync(socketPath);
    server = await listen(socketPath);
  }
  // From here on a failure must leave nothing: no server, no socket, no address, no shim.pid
  // (containerd would otherwise find a half-started shim on its next `start` for the group).
  const undo: (() => void)[] = [];
  try {
    undo.push(() => {
      server.close(); // libuv unlinks the path it bound...
      rmSync(socketPath, { force: true }); // ...and this covers a close that has not run yet
    });
    chmodSync(socketPath, 0o600);
    undo.push(() => rmSync(path.join(bundle, 'address'), { force: true }));
    writeAddress(bundle, address);
    const pid = await spawnServer(flags, bundle, server);
    undo.push(() => process.kill(pid, 'SIGKILL'));
    undo.push(() => rmSync(path.join(bundle, 'shim.pid'), { force: true }));
    writeFileSync(path.join(bundle, 'shim.pid'), String(pid));
    const options = await readStdin(2_000);
    if (options.length > 0) {
      const { shimCgroupOf, joinCgroup } = await import('./shim-cgroup.js');
      const cgroup = shimCgroupOf(options);
      if (cgroup) joinCgroup(pid, cgroup);
    }
    raiseOomScore(pid);
    return { address, pid };
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
}

// containerd writes the task's runtime options (a protobuf Any) on stdin and closes it, or gives
// no stdin at all (/dev/null). A terminal is never read.
function readStdin(timeoutMs: number): Promise<Buffer> {
  if (process.stdin.isTTY) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      process.stdin.removeAllListeners();
      process.stdin.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, timeoutMs);
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', done);
    process.stdin.once('error', done);
  });
}

function listen(socketPath: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ path: socketPath, backlog: 128 }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

function canConnect(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function writeAddress(bundle: string, address: string): void {
  const tmp = path.join(bundle, '.address');
  try {
    writeFileSync(tmp, address, { mode: 0o600 });
    renameSync(tmp, path.join(bundle, 'address'));
  } finally {
    rmSync(tmp, { force: true });
  }
}

// The listener goes in as fd 3 by its handle's fd number; the parent must then just exit and
// never close the server (libuv would unlink the socket path under the child).
function spawnServer(flags: ShimFlags, bundle: string, server: net.Server): Promise<number> {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return Promise.reject(new InternalError('shim start: listener has no fd'));
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS; // ~57 ms per Node start
  const script = process.argv[1] as string;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...serverArgv(flags)], {
      cwd: bundle,
      env,
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', fd],
    });
    child.once('error', (e) => reject(new InternalError(`shim start: cannot start the server: ${e.message}`, { cause: e })));
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid as number);
    });
  });
}

// The server is slightly more killable than the daemon that ran `start` (its oom_score_adj + 1),
// but never made less killable than it already is: without CAP_SYS_RESOURCE only raising works.
function raiseOomScore(pid: number): void {
  try {
    const caller = Number(readFileSync(`/proc/${process.ppid}/oom_score_adj`, 'utf8').trim());
    const current = Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim());
    const target = Math.min(1000, Math.max(current, caller + 1));
    if (target !== current) writeFileSync(`/proc/${pid}/oom_score_adj`, String(target));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOENT' && code !== 'ESRCH') throw err;
  }
}
