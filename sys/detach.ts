// Starting a long-lived daemon child (the shim server) that outlives its parent, and receiving
// the parent's already-bound listening socket in it (node-shim.md §4):
//  - `detached: true` gives the child its own session and process group, so SIGKILL of the
//    parent's group (containerd kills `shim start` with its context) does not reach it;
//  - stdio 0-2 are /dev/null or fds the caller names, never pipes of the caller, so `$(shim start)`
//    returns when the parent exits;
//  - the listener goes in as fd 3 by its handle's fd number. The parent must NOT close the server
//    afterwards: libuv unlinks the socket path of a pipe it bound, which would strand the child.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { InternalError, InvalidArgumentError } from '../common/index.js';

export interface DetachOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The bound listening socket to pass as fd 3 (a listening net.Server or a raw fd). */
  listener?: net.Server | number;
  /** fd for the child's stdout / stderr (e.g. an opened log FIFO); default /dev/null. */
  stdout?: number;
  stderr?: number;
}

/** The fd number behind a listening net.Server (libuv's handle). */
export function serverFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new InvalidArgumentError('server is not listening (no handle fd)');
  return fd;
}

/** Spawns `command` detached; resolves with its pid once it has been started. */
export function spawnDetached(opts: DetachOptions): Promise<number> {
  const extra = opts.listener === undefined ? [] : [typeof opts.listener === 'number' ? opts.listener : serverFd(opts.listener)];
  return new Promise((resolve, reject) => {
    const child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', opts.stdout ?? 'ignore', opts.stderr ?? 'ignore', ...extra],
    });
    child.once('error', (e) => reject(new InternalError(`spawning ${opts.command}: ${e.message}`, { cause: e })));
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid as number);
    });
  });
}

/** Child side: serve on an inherited listening socket (fd 3 by default). */
export function listenOnInheritedFd(fd = 3, onConnection?: (s: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    const onError = (e: Error): void => reject(new InvalidArgumentError(`fd ${fd} is not a listening socket: ${e.message}`, { cause: e }));
    server.once('error', onError);
    try {
      server.listen({ fd }, () => {
        server.removeListener('error', onError);
        resolve(server);
      });
    } catch (e) {
      onError(e as Error);
    }
  });
}
