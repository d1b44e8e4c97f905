// One ttrpc connection per shim address, shared by every task that shim serves (a pod's shim
// serves the sandbox and all its containers). The connection is "refcounted" by its task set:
// when the last task is deleted the shim manager shuts the shim down and drops the connection.
//
// A connection's life is one state machine (docs/taskmanager.md, "Shim connection"):
//
//   connected ──Connect answered──▶ ready
//       │                            │
//       ├────── we close it ─────────┴──▶ closing ──socket closed──▶ closed
//       └────── the shim closes it ──┴──▶ dead      (dead-shim cleanup runs once, on entry)
//
// `transition(allowedFrom, to)` does nothing and returns false unless the current state is one of
// `allowedFrom`, so a close we asked for can never be mistaken for a dead shim, and a dead shim is
// reported once.
import { rm, lstat } from 'node:fs/promises';
import { silentLogger, type Logger } from '../common/index.js';
import { TtrpcClient, socketPathOf } from '../proto/index.js';
import { ShimTaskApi } from './task-client.js';

export type ShimConnState =
  | { readonly kind: 'connected' }
  | { readonly kind: 'ready'; readonly shimPid: number }
  | { readonly kind: 'closing' }
  | { readonly kind: 'closed' }
  | { readonly kind: 'dead'; readonly cause: Error | undefined };

export type ShimConnStateKind = ShimConnState['kind'];

export class ShimConn {
  #state: ShimConnState = { kind: 'connected' };
  /** Keys `<ns>/<id>` of the tasks this shim serves. */
  readonly tasks = new Set<string>();

  constructor(
    readonly address: string,
    readonly namespace: string,
    /** Absolute shim binary (for `delete`). */
    readonly binary: string,
    readonly api: ShimTaskApi,
    private readonly onEnter: (conn: ShimConn, state: ShimConnState) => void,
    private readonly log: Logger,
  ) {}

  get state(): ShimConnState {
    return this.#state;
  }

  /** Calls can be made: connected or ready (not closing, closed or dead). */
  get usable(): boolean {
    return this.#state.kind === 'connected' || this.#state.kind === 'ready';
  }

  /** The shim's pid once Connect answered; undefined before. */
  get shimPid(): number | undefined {
    return this.#state.kind === 'ready' ? this.#state.shimPid : undefined;
  }

  /** Moves to `to` when the current state is one of `allowedFrom`; false (and no change) otherwise. */
  transition(allowedFrom: readonly ShimConnStateKind[], to: ShimConnState): boolean {
    const from = this.#state.kind;
    if (!allowedFrom.includes(from)) return false;
    this.#state = to;
    this.log.debug({ address: this.address, from, to: to.kind }, `shim connection ${from} -> ${to.kind}`);
    this.onEnter(this, to);
    return true;
  }

  /** Records the shim's pid from a Connect reply (first answer wins). */
  ready(shimPid: number): void {
    this.transition(['connected'], { kind: 'ready', shimPid });
  }
}

export interface ShimPoolOptions {
  callTimeoutMs: number;
  connectTimeoutMs: number;
  log?: Logger;
  /** Runs once when a connection enters `dead`. */
  onDead: (conn: ShimConn, cause: Error | undefined) => void;
}

export class ShimPool {
  readonly #conns = new Map<string, ShimConn>();
  readonly #connecting = new Map<string, Promise<ShimConn>>();
  readonly #log: Logger;

  constructor(private readonly opts: ShimPoolOptions) {
    this.#log = opts.log ?? silentLogger;
  }

  all(): ShimConn[] {
    return [...this.#conns.values()];
  }

  /** The usable connection to `address`, dialing it once if needed. */
  acquire(address: string, namespace: string, binary: string, connectTimeoutMs = this.opts.connectTimeoutMs): Promise<ShimConn> {
    const existing = this.#conns.get(address);
    if (existing?.usable) return Promise.resolve(existing);
    let p = this.#connecting.get(address);
    if (!p) {
      p = this.#dial(address, namespace, binary, connectTimeoutMs).finally(() => this.#connecting.delete(address));
      this.#connecting.set(address, p);
    }
    return p;
  }

  #onEnter(conn: ShimConn, state: ShimConnState): void {
    switch (state.kind) {
      case 'connected':
      case 'ready':
        return;
      case 'closing':
      case 'closed':
        if (this.#conns.get(conn.address) === conn) this.#conns.delete(conn.address);
        return;
      case 'dead':
        if (this.#conns.get(conn.address) === conn) this.#conns.delete(conn.address);
        this.opts.onDead(conn, state.cause);
        return;
      default:
        throw new Error(`unknown shim connection state ${JSON.stringify(state satisfies never)}`);
    }
  }

  async #dial(address: string, namespace: string, binary: string, connectTimeoutMs: number): Promise<ShimConn> {
    const ref: { conn?: ShimConn } = {};
    const client = await TtrpcClient.connect(address, {
      namespace,
      connectTimeoutMs,
      logger: this.#log,
      // Runs synchronously when the socket closes, after pending calls were failed but before
      // their rejections are handled: a failed Wait always sees `closing`/`closed` or `dead`.
      onClose: (cause) => {
        const conn = ref.conn;
        if (!conn) return;
        if (!conn.transition(['closing'], { kind: 'closed' })) conn.transition(['connected', 'ready'], { kind: 'dead', cause });
      },
    });
    const conn = new ShimConn(address, namespace, binary, new ShimTaskApi(client, this.opts.callTimeoutMs), (c, s) => this.#onEnter(c, s), this.#log);
    ref.conn = conn;
    this.#conns.set(address, conn);
    return conn;
  }

  /** Closes a connection on purpose (no dead-shim handling). */
  async release(conn: ShimConn): Promise<void> {
    conn.transition(['connected', 'ready'], { kind: 'closing' });
    await conn.api.client.close();
  }

  /** Sends Shutdown (ErrClosed tolerated), closes the connection, removes a leftover socket file. */
  async shutdown(conn: ShimConn, taskId: string, timeoutMs: number): Promise<void> {
    conn.transition(['connected', 'ready'], { kind: 'closing' });
    try {
      await conn.api.shutdown(taskId, timeoutMs);
    } catch (err) {
      // The shim closes the connection as it exits: that is the answer, not a failure.
      if (conn.state.kind !== 'closed') this.#log.warn({ err, address: conn.address }, 'shim shutdown failed');
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
