// One ttrpc connection per shim address, shared by every task that shim serves (a pod's shim
// serves the sandbox and all its containers). The connection is "refcounted" by its task set:
// when the last task is deleted the owner shuts the shim down and drops the connection. A
// connection that closes while still holding tasks (and was not closed by us) is a dead shim.
import { rm, lstat } from 'node:fs/promises';
import { silentLogger, type Logger } from '../common/index.js';
import { TtrpcClient, socketPathOf } from '../proto/index.js';
import { ShimTaskApi } from './task-client.js';

export interface ShimConn {
  address: string;
  namespace: string;
  /** Absolute shim binary (for `delete`). */
  binary: string;
  api: ShimTaskApi;
  /** Keys `<ns>/<id>` of the tasks this shim serves. */
  tasks: Set<string>;
  /** Set before we close the connection on purpose (Shutdown, daemon close). */
  closing: boolean;
  shimPid: number;
}

export interface ShimPoolOptions {
  callTimeoutMs: number;
  connectTimeoutMs: number;
  log?: Logger;
  onDead: (conn: ShimConn, cause: Error | undefined) => void;
}

export class ShimPool {
  readonly #conns = new Map<string, ShimConn>();
  readonly #connecting = new Map<string, Promise<ShimConn>>();
  readonly #log: Logger;

  constructor(private readonly opts: ShimPoolOptions) {
    this.#log = opts.log ?? silentLogger;
  }

  get(address: string): ShimConn | undefined {
    return this.#conns.get(address);
  }

  all(): ShimConn[] {
    return [...this.#conns.values()];
  }

  /** The live connection to `address`, dialing it once if needed. */
  acquire(address: string, namespace: string, binary: string, connectTimeoutMs = this.opts.connectTimeoutMs): Promise<ShimConn> {
    const existing = this.#conns.get(address);
    if (existing && !existing.api.client.closed && !existing.closing) return Promise.resolve(existing);
    let p = this.#connecting.get(address);
    if (!p) {
      p = this.#dial(address, namespace, binary, connectTimeoutMs).finally(() => this.#connecting.delete(address));
      this.#connecting.set(address, p);
    }
    return p;
  }

  async #dial(address: string, namespace: string, binary: string, connectTimeoutMs: number): Promise<ShimConn> {
    const ref: { conn?: ShimConn } = {};
    const client = await TtrpcClient.connect(address, {
      namespace,
      connectTimeoutMs,
      logger: this.#log,
      onClose: (cause) => {
        const conn = ref.conn;
        if (!conn) return;
        if (this.#conns.get(address) === conn) this.#conns.delete(address);
        if (!conn.closing) this.opts.onDead(conn, cause);
      },
    });
    const conn: ShimConn = {
      address, namespace, binary, api: new ShimTaskApi(client, this.opts.callTimeoutMs), tasks: new Set(), closing: false, shimPid: 0,
    };
    ref.conn = conn;
    this.#conns.set(address, conn);
    return conn;
  }

  /** Closes a connection on purpose (no dead-shim handling). */
  async release(conn: ShimConn): Promise<void> {
    conn.closing = true;
    if (this.#conns.get(conn.address) === conn) this.#conns.delete(conn.address);
    await conn.api.client.close();
  }

  /** Sends Shutdown (ErrClosed tolerated), closes the connection, removes a leftover socket file. */
  async shutdown(conn: ShimConn, taskId: string, timeoutMs: number): Promise<void> {
    conn.closing = true;
    try {
      await conn.api.shutdown(taskId, timeoutMs);
    } catch (err) {
      if (!conn.api.client.closed) this.#log.warn({ err, address: conn.address }, 'shim shutdown failed');
    }
    await this.release(conn);
    await removeSocketFile(conn.address, this.#log);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all().map((c) => this.release(c)));
  }
}

/** Removes the socket file behind a `unix:///path` address if it is still there. */
export async function removeSocketFile(address: string, log: Logger): Promise<void> {
  let p: string;
  try {
    p = socketPathOf(address);
  } catch {
    return;
  }
  if (p.startsWith('\0')) return;
  try {
    if ((await lstat(p)).isSocket()) await rm(p, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, address }, 'cannot remove shim socket');
  }
}
