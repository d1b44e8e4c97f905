// berth's gRPC server (docs/grpc.md): unary and server-streaming methods over HTTP/2 on a unix
// socket, for the CRI. Each accepted connection is served by a Connection (connection.ts).
import { createServer, type Server as NetServer } from 'node:net';
import { UnavailableError, type Logger } from '../../common/index.js';
import type { MethodDef, StreamHandler, UnaryHandler } from './calls.js';
import { Connection, PREFACE_TIMEOUT_MS, type ConnectionOptions, type Route } from './connection.js';

export interface GrpcServerOptions {
  readonly log: Logger;
  /** Largest request message (default 16 MiB, kubelet's own reply limit). */
  readonly maxReceiveBytes?: number;
  /** Largest response message (default 32 MiB). */
  readonly maxSendBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection (default 1000). */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (default 1 MiB). */
  readonly maxHeaderListBytes?: number;
  /** How long a new connection may take to send its HTTP/2 preface (default 10 s). */
  readonly prefaceTimeoutMs?: number;
}

export type ServiceImpl = Record<string, UnaryHandler | StreamHandler>;

export class GrpcServer {
  readonly #routes = new Map<string, Route>();
  readonly #opts: ConnectionOptions;
  readonly #conns = new Set<Connection>();
  #allClosed: (() => void) | undefined;
  #net: NetServer | undefined;
  #sweep: NodeJS.Timeout | undefined;
  readonly #prefaceTimeoutMs: number;
  #closed: Promise<void> | undefined;

  constructor(opts: GrpcServerOptions) {
    this.#prefaceTimeoutMs = opts.prefaceTimeoutMs ?? PREFACE_TIMEOUT_MS;
    this.#opts = {
      routes: this.#routes,
      log: opts.log,
      maxReceiveBytes: opts.maxReceiveBytes ?? 16 * 1024 * 1024,
      maxSendBytes: opts.maxSendBytes ?? 32 * 1024 * 1024,
      maxConcurrentStreams: opts.maxConcurrentStreams ?? 1000,
      maxHeaderListBytes: opts.maxHeaderListBytes ?? 1024 * 1024,
    };
  }

  /** Routes every method of `def` (grpc-js ServiceDefinition shape) to `impl`'s handler of that name. */
  addService(def: Record<string, MethodDef>, impl: ServiceImpl): void {
    for (const [method, m] of Object.entries(def)) {
      const handler = impl[method];
      if (!handler) throw new Error(`no handler for ${m.path}`);
      this.#routes.set(m.path, m.responseStream
        ? { def: m, method, stream: handler as StreamHandler }
        : { def: m, method, unary: handler as UnaryHandler });
    }
  }

  /** Listens on the unix socket `path` (which must not exist). */
  async listen(path: string): Promise<void> {
    const net = createServer((socket) => {
      const c = new Connection(socket, this.#opts, (done) => {
        this.#conns.delete(done);
        if (this.#conns.size === 0) this.#allClosed?.();
      });
      this.#conns.add(c);
    });
    await new Promise<void>((resolve, reject) => {
      net.once('error', (err) => reject(new UnavailableError(`cannot listen on ${path}: ${err.message}`, { cause: err })));
      net.listen(path, () => resolve());
    });
    net.on('error', (err) => this.#opts.log.error({ err }, 'gRPC socket error'));
    this.#closed = new Promise<void>((resolve) => net.once('close', () => resolve()));
    this.#net = net;
    // One timer for all connections (a timer per socket costs every connection): a client that
    // connected and sent no preface in time is cut off.
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const c of this.#conns) {
        if (c.started || now - c.createdAt < this.#prefaceTimeoutMs) continue;
        this.#opts.log.warn('gRPC connection sent no HTTP/2 preface in time; closing it');
        c.destroy();
      }
    }, this.#prefaceTimeoutMs / 2).unref();
  }

  /** Connections open now (for tests and the daemon's shutdown log). */
  get connections(): number {
    return this.#conns.size;
  }

  /**
   * Stops accepting, sends GOAWAY on every connection and waits up to `graceMs` for their open
   * calls; then closes whatever is left.
   */
  async close(graceMs = 2_000): Promise<void> {
    if (this.#net?.listening) this.#net.close();
    clearInterval(this.#sweep);
    const open = [...this.#conns];
    await new Promise<void>((resolve) => {
      let left = open.length;
      const timer = setTimeout(resolve, graceMs);
      const one = () => {
        if (--left > 0) return;
        clearTimeout(timer);
        resolve();
      };
      if (left === 0) one();
      for (const c of open) c.goAway(one);
    });
    const gone = this.#conns.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.#allClosed = resolve; });
    for (const c of this.#conns) c.destroy();
    await Promise.all([gone, this.#closed]);
  }
}
