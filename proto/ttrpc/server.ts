// ttrpc server: services registered from method tables, served on a unix socket path or an
// inherited listening fd (a shim gets its socket as fd 3). Every request runs concurrently and
// is answered exactly once on its stream id; bad requests get a status, never a dropped
// connection, except where the byte stream itself can no longer be trusted.
import { rmSync } from 'node:fs';
import net from 'node:net';
import { AlreadyExistsError, BerthError, Code, DeadlineExceededError, silentLogger, type Logger } from '../../common/index.js';
import { socketPathOf } from './address.js';
import { NAMESPACE_METADATA_KEY } from './client.js';
import { decodeRequest, encodeResponse, type RequestEnvelope } from './envelope.js';
import { ResourceExhaustedError, statusFromError } from './errors.js';
import { FrameDecoder, MAX_MESSAGE_SIZE, FrameType, encodeFrame, oversizeMessage, type DecodedFrame } from './frame.js';
import type { MethodTable, RequestOf, ResponseOf } from './service.js';

export interface HandlerContext {
  service: string;
  method: string;
  /** Request metadata grouped by key, in arrival order. */
  metadata: ReadonlyMap<string, readonly string[]>;
  /** `containerd-namespace-ttrpc`, if the caller sent it. */
  namespace: string | undefined;
  /** Aborted when the caller's timeout_nano passes or its connection closes. */
  signal: AbortSignal;
  /** Absolute deadline (ms since epoch) from timeout_nano, if any. */
  deadline: number | undefined;
}

export type Handler<Req, Res> = (req: Req, ctx: HandlerContext) => Promise<Res> | Res;

export type ServiceHandlers<T extends MethodTable> = {
  [K in keyof T]?: Handler<RequestOf<T[K]>, ResponseOf<T[K]>>;
};

interface BoundMethod {
  decode(b: Uint8Array): unknown;
  encode(m: unknown): Uint8Array;
  handler: Handler<unknown, unknown>;
}

export interface ServerOptions {
  logger?: Logger;
}

export type ListenTarget = string | { fd: number };

/** Longest error message a status reply carries (characters). */
const MAX_STATUS_MESSAGE = 64 * 1024;

export class TtrpcServer {
  readonly #services = new Map<string, Map<string, BoundMethod>>();
  readonly #connections = new Set<ServerConnection>();
  readonly #log: Logger;
  #server: net.Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: ServerOptions = {}) {
    this.#log = opts.logger ?? silentLogger;
  }

  /** Adds `serviceName` with handlers for some or all of the methods in `methods`. */
  register<T extends MethodTable>(serviceName: string, methods: T, handlers: ServiceHandlers<T>): void {
    const table = this.#services.get(serviceName) ?? new Map<string, BoundMethod>();
    for (const [name, fn] of Object.entries(handlers)) {
      const desc = methods[name];
      if (!desc) throw new BerthError('invalid-argument', `ttrpc: ${serviceName} has no method ${name}`);
      if (typeof fn !== 'function') continue;
      table.set(name, {
        decode: (b) => desc.requestType.decode(b),
        encode: (m) => desc.responseType.encode(m).finish(),
        handler: fn as Handler<unknown, unknown>,
      });
    }
    this.#services.set(serviceName, table);
  }

  /**
   * Starts serving on a socket path or an inherited fd. A stale socket file (nobody answers on
   * it) is replaced; a live one is left alone and listen fails with ALREADY_EXISTS.
   */
  async listen(target: ListenTarget): Promise<void> {
    if (this.#server) throw new BerthError('failed-precondition', 'ttrpc: server is already listening');
    const server = net.createServer((socket) => this.#accept(socket));
    this.#server = server;
    try {
      if (typeof target !== 'string') {
        await listenOn(server, { fd: target.fd });
        return;
      }
      const path = socketPathOf(target);
      try {
        await listenOn(server, { path });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || path.startsWith('\0')) throw err;
        if (await answers(path)) throw new AlreadyExistsError(`ttrpc: ${target} is already being served`, { cause: err });
        // rmSync, not fs/promises: loading node:fs/promises costs a shim start ~5 ms.
        rmSync(path, { force: true });
        await listenOn(server, { path });
      }
    } catch (err) {
      this.#server = undefined;
      throw err;
    } finally {
      // A listening server still emits 'error' (accept failing with EMFILE, ...): without a
      // listener that would crash the daemon; the server keeps listening after it.
      if (this.#server === server) server.on('error', (err) => this.#log.warn({ err }, 'ttrpc: server error'));
    }
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Graceful stop: no new connections, in-flight calls may finish (up to `timeoutMs`,
   * default 5 s), then every connection is destroyed. Idempotent.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#drain(opts.timeoutMs ?? 5_000);
    return this.#closing;
  }

  /** Immediate stop: listener and all connections closed now, in-flight replies dropped. */
  destroy(): void {
    void this.#stopListening();
    for (const c of this.#connections) c.destroy();
    if (!this.#closing) this.#closing = Promise.resolve();
  }

  async #drain(timeoutMs: number): Promise<void> {
    const listenerClosed = this.#stopListening();
    const until = Date.now() + timeoutMs;
    for (const c of this.#connections) c.stopReading();
    while ([...this.#connections].some((c) => c.inFlight > 0) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of this.#connections) c.destroy();
    await listenerClosed;
  }

  #stopListening(): Promise<void> {
    const server = this.#server;
    if (!server?.listening) return Promise.resolve();
    // libuv removes a socket file it bound itself; an inherited fd's file belongs to its owner.
    return new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const conn = new ServerConnection(socket, this.#services, this.#log);
    this.#connections.add(conn);
    socket.once('close', () => this.#connections.delete(conn));
  }
}

/** Whether something accepts connections on `path` (100 ms, as the runc shim checks). */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection({ path });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 100);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

function listenOn(server: net.Server, where: { path: string } | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    // `{ fd }` is Node's "handle" form of listen: an already-bound listening socket.
    server.listen(where as net.ListenOptions, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** One accepted connection: decodes frames, dispatches requests, writes one reply per stream. */
class ServerConnection {
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder();
  readonly #services: ReadonlyMap<string, ReadonlyMap<string, BoundMethod>>;
  readonly #log: Logger;
  readonly #calls = new Map<number, AbortController>();
  #closed = false;

  constructor(socket: net.Socket, services: ReadonlyMap<string, ReadonlyMap<string, BoundMethod>>, log: Logger) {
    this.#socket = socket;
    this.#services = services;
    this.#log = log;
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#decoder.push(chunk)) this.#onFrame(f);
    });
    socket.on('error', (err) => this.#log.debug({ err }, 'ttrpc: server connection error'));
    socket.on('close', () => this.#onClose());
  }

  get inFlight(): number {
    return this.#calls.size;
  }

  stopReading(): void {
    this.#socket.pause();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onClose(): void {
    this.#closed = true;
    for (const ac of this.#calls.values()) ac.abort(new BerthError('cancelled', 'ttrpc: connection closed'));
    this.#calls.clear();
  }

  #sendStatus(streamId: number, code: number, message: string): void {
    this.#send(streamId, statusResponse(code, message));
  }

  #send(streamId: number, body: Uint8Array): void {
    if (this.#closed || this.#socket.destroyed) return;
    this.#socket.write(encodeFrame(streamId, FrameType.RESPONSE, body));
  }

  #onFrame(f: DecodedFrame): void {
    if (f.kind === 'oversized') {
      this.#sendStatus(f.streamId, Code.RESOURCE_EXHAUSTED, oversizeMessage(f.length));
      return;
    }
    // ttrpc v1.1.1 ignores anything that is not a request, without a reply.
    if (f.type !== FrameType.REQUEST) return;
    let req: RequestEnvelope;
    try {
      req = decodeRequest(f.payload);
    } catch (err) {
      this.#sendStatus(f.streamId, Code.INVALID_ARGUMENT, `unmarshal request error: ${errText(err)}`);
      return;
    }
    if (f.streamId % 2 !== 1) {
      this.#sendStatus(f.streamId, Code.INVALID_ARGUMENT, 'StreamID must be odd for client initiated streams');
      return;
    }
    if (this.#calls.has(f.streamId)) {
      this.#sendStatus(f.streamId, Code.INVALID_ARGUMENT, `ttrpc: stream ${f.streamId} is already in use`);
      return;
    }
    const service = this.#services.get(req.service);
    if (!service) {
      this.#sendStatus(f.streamId, Code.UNIMPLEMENTED, `service ${req.service}`);
      return;
    }
    const method = service.get(req.method);
    if (!method) {
      this.#sendStatus(f.streamId, Code.UNIMPLEMENTED, `method ${req.method}`);
      return;
    }
    let decoded: unknown;
    try {
      decoded = method.decode(req.payload);
    } catch (err) {
      this.#sendStatus(f.streamId, Code.INTERNAL, `ttrpc: error unmarshalling payload: ${errText(err)}`);
      return;
    }
    this.#run(f.streamId, req, method, decoded);
  }

  #run(streamId: number, req: RequestEnvelope, method: BoundMethod, decoded: unknown): void {
    const ac = new AbortController();
    this.#calls.set(streamId, ac);
    const metadata = new Map<string, string[]>();
    for (const { key, value } of req.metadata) {
      const k = key.toLowerCase();
      const list = metadata.get(k) ?? [];
      list.push(value);
      metadata.set(k, list);
    }
    const timeoutMs = req.timeoutNano > 0 ? req.timeoutNano / 1e6 : undefined;
    const ctx: HandlerContext = {
      service: req.service,
      method: req.method,
      metadata,
      namespace: metadata.get(NAMESPACE_METADATA_KEY)?.[0],
      signal: ac.signal,
      deadline: timeoutMs !== undefined ? Date.now() + timeoutMs : undefined,
    };
    let answered = false;
    const answer = (body: Uint8Array) => {
      if (answered) return;
      answered = true;
      if (timer) clearTimeout(timer);
      if (this.#calls.get(streamId) === ac) this.#calls.delete(streamId);
      if (!ac.signal.aborted) ac.abort(new BerthError('cancelled', 'ttrpc: call finished'));
      this.#send(streamId, body);
    };
    const fail = (err: unknown) => {
      const st = statusFromError(err);
      answer(statusResponse(st.code, st.message));
    };
    let timer: NodeJS.Timeout | undefined;
    // A call aborted by its connection closing will never be answered: its deadline timer must
    // not stay armed (and keep the process alive) until it fires.
    ac.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const err = new DeadlineExceededError(`ttrpc: ${req.service}/${req.method}: context deadline exceeded`);
        ac.abort(err);
        fail(err);
      }, Math.min(timeoutMs, 0x7fff_ffff));
    }
    Promise.resolve()
      .then(() => method.handler(decoded, ctx))
      .then(
        (reply) => {
          if (answered) return;
          let body: Uint8Array;
          try {
            body = method.encode(reply ?? {});
          } catch (err) {
            fail(new BerthError('internal', `ttrpc: error marshaling payload: ${errText(err)}`));
            return;
          }
          const response = encodeResponse({ payload: body });
          if (response.length > MAX_MESSAGE_SIZE) fail(new ResourceExhaustedError(oversizeMessage(response.length)));
          else answer(response);
        },
        (err: unknown) => fail(err),
      )
      .catch((err: unknown) => this.#log.warn({ err }, 'ttrpc: failed to answer a call'));
  }
}

/**
 * A status-only reply. The message is cut to MAX_STATUS_MESSAGE: a handler error quoting a huge
 * input must still produce a reply, not a frame over the 4 MiB limit that is never sent.
 */
function statusResponse(code: number, message: string): Uint8Array {
  const text = message.length > MAX_STATUS_MESSAGE ? `${message.slice(0, MAX_STATUS_MESSAGE)}... (truncated)` : message;
  return encodeResponse({ status: { code, message: text }, payload: new Uint8Array(0) });
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
