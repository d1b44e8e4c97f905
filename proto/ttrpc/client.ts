// ttrpc client: one unix-socket connection carrying any number of concurrent unary calls,
// matched to replies by odd stream ids (1, 3, 5, ...). No reconnect: when the connection drops,
// every pending and later call fails with UNAVAILABLE `ttrpc: closed` and onClose runs once.
import net from 'node:net';
import {
  BerthError, DeadlineExceededError, InternalError, UnavailableError, silentLogger, type Logger,
} from '../../common/index.js';
import { socketPathOf } from './address.js';
import { decodeResponse, encodeRequest, type KeyValue } from './envelope.js';
import { closedError, errorFromStatus, ResourceExhaustedError } from './errors.js';
import { FrameDecoder, FrameType, encodeFrame, oversizeMessage, type DecodedFrame } from './frame.js';

/** containerd's namespace header on every shim call and every Events/Forward. */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

const MAX_STREAM_ID = 0xffff_ffff;

export interface ClientOptions {
  /** Sent as `containerd-namespace-ttrpc` on every call. */
  namespace?: string;
  /** Deadline for the connect itself (default 10 s). */
  connectTimeoutMs?: number;
  /** Deadline for calls that give no `timeoutMs` (default: none). Pass `timeoutMs: 0` to opt out (Wait). */
  defaultTimeoutMs?: number;
  /** Called once when the connection is gone: no argument after a local close(), else the cause. */
  onClose?: (cause?: Error) => void;
  logger?: Logger;
}

export interface CallOptions {
  /** Per-call deadline: sent as timeout_nano and enforced locally (DEADLINE_EXCEEDED); 0 = none. */
  timeoutMs?: number;
  /** Giving up early: the call fails with CANCELLED and its late reply is dropped. */
  signal?: AbortSignal;
  /** Extra metadata; a key with several values is sent as several pairs. */
  metadata?: Record<string, string | string[]>;
}

interface Pending {
  label: string;
  resolve: (payload: Uint8Array) => void;
  reject: (err: Error) => void;
}

export class TtrpcClient {
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder();
  readonly #pending = new Map<number, Pending>();
  readonly #namespace: string | undefined;
  readonly #defaultTimeoutMs: number | undefined;
  readonly #log: Logger;
  readonly #closeListeners: ((cause?: Error) => void)[] = [];
  readonly #closedPromise: Promise<void>;
  #nextStreamId = 1;
  #closeError: Error | undefined;
  #localClose = false;
  /** Frames written in this turn of the event loop are held until its end (see #send). */
  #corked = false;

  private constructor(socket: net.Socket, opts: ClientOptions) {
    this.#socket = socket;
    this.#namespace = opts.namespace;
    this.#defaultTimeoutMs = opts.defaultTimeoutMs;
    this.#log = opts.logger ?? silentLogger;
    if (opts.onClose) this.#closeListeners.push(opts.onClose);
    this.#closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#shutdown(err));
    socket.on('close', () => this.#shutdown());
  }

  /** Connects to `unix:///abs/path`, `/abs/path`, or an abstract socket name. */
  static connect(address: string, opts: ClientOptions = {}): Promise<TtrpcClient> {
    let path: string;
    try {
      path = socketPathOf(address);
    } catch (err) {
      return Promise.reject(err); // a bad address rejects like every other failure, never throws
    }
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DeadlineExceededError(`ttrpc: dial ${address}: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new UnavailableError(`ttrpc: dial ${address}: ${err.code ?? err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TtrpcClient(socket, opts));
      });
    });
  }

  get closed(): boolean {
    return this.#closeError !== undefined;
  }

  /** Number of calls waiting for a reply. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Adds a close listener; runs at once (next tick) if the connection is already closed. */
  onClose(listener: (cause?: Error) => void): void {
    if (this.closed) {
      const cause = this.#localClose ? undefined : closedError(this.#closeError);
      process.nextTick(() => listener(cause));
      return;
    }
    this.#closeListeners.push(listener);
  }

  /** Raw unary call: request payload bytes in, reply payload bytes out. */
  call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    if (this.#closeError) return Promise.reject(closedError(this.#closeError));
    const label = `${service}/${method}`;
    if (opts.signal?.aborted) return Promise.reject(new BerthError('cancelled', `ttrpc: ${label}: context canceled`));
    if (this.#nextStreamId > MAX_STREAM_ID) {
      return Promise.reject(new UnavailableError('ttrpc: stream ids exhausted on this connection'));
    }
    const streamId = this.#nextStreamId;
    const timeoutMs = opts.timeoutMs ?? this.#defaultTimeoutMs;
    let frame: Buffer;
    try {
      const body = encodeRequest({
        service,
        method,
        payload,
        timeoutNano: timeoutMs !== undefined && timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0,
        metadata: this.#metadataFor(opts.metadata),
      });
      frame = encodeFrame(streamId, FrameType.REQUEST, body);
    } catch (err) {
      return Promise.reject(err instanceof BerthError ? err : new InternalError(`ttrpc: ${label}: ${String(err)}`, { cause: err }));
    }
    this.#nextStreamId += 2;

    // The frame is written outside the promise's closures: a Wait stays pending for as long as its
    // task runs, and whatever those closures reach (the frame, a view into a Buffer pool slab)
    // stays in memory that long (docs/bench.md "Daemon memory").
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => finish(new BerthError('cancelled', `ttrpc: ${label}: context canceled`));
      const finish = (err: Error | undefined, reply?: Uint8Array) => {
        if (!this.#pending.delete(streamId)) return;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(reply ?? new Uint8Array(0));
      };
      this.#pending.set(streamId, { label, resolve: (p) => finish(undefined, p), reject: (e) => finish(e) });
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(
          () => finish(new DeadlineExceededError(`ttrpc: ${label}: context deadline exceeded after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    this.#send(frame);
    return answer;
  }

  /**
   * Writes a frame. The calls made in one turn of the event loop (a reload's Connect of a pod
   * shim and of its container on the same connection, the Waits armed together) leave in one
   * writev: each write to a shim's socket is a syscall that wakes the shim, and at a 200-pod
   * restart those writes were the reload's largest CPU item (bench/README.md "Restart reload
   * with 200 pods"). The frames are held until the current ticks and microtasks have run.
   */
  #send(frame: Uint8Array): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(frame);
  }

  /** Closes the connection; pending calls fail with `ttrpc: closed`. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closeError) {
      this.#localClose = true;
      this.#socket.destroy();
    }
    await this.#closedPromise;
  }

  #metadataFor(extra: CallOptions['metadata']): KeyValue[] {
    const md: KeyValue[] = [];
    if (this.#namespace) md.push({ key: NAMESPACE_METADATA_KEY, value: this.#namespace });
    for (const [key, value] of Object.entries(extra ?? {})) {
      const k = key.toLowerCase();
      if (k === NAMESPACE_METADATA_KEY && this.#namespace) continue;
      for (const v of Array.isArray(value) ? value : [value]) md.push({ key: k, value: v });
    }
    return md;
  }

  #onData(chunk: Buffer): void {
    let frames: DecodedFrame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      this.#socket.destroy(err as Error);
      return;
    }
    for (const f of frames) this.#onFrame(f);
  }

  #onFrame(f: DecodedFrame): void {
    const pending = this.#pending.get(f.streamId);
    if (!pending) {
      // A reply for a call we gave up on (deadline/cancel) or never made: drop it.
      this.#log.debug({ streamId: f.streamId }, 'ttrpc: received message for unknown channel');
      return;
    }
    if (f.kind === 'oversized') {
      pending.reject(new ResourceExhaustedError(oversizeMessage(f.length)));
      return;
    }
    if (f.type !== FrameType.RESPONSE) {
      pending.reject(new BerthError('unknown', 'ttrpc: unknown message type received'));
      return;
    }
    let response;
    try {
      response = decodeResponse(f.payload);
    } catch (err) {
      pending.reject(new InternalError(`ttrpc: ${pending.label}: cannot decode response: ${String(err)}`, { cause: err }));
      return;
    }
    const err = errorFromStatus(response.status);
    if (err) pending.reject(err);
    else pending.resolve(response.payload);
  }

  #shutdown(cause?: Error): void {
    if (this.#closeError) return;
    this.#closeError = cause ?? new Error('connection closed');
    this.#socket.destroy();
    const err = closedError(cause);
    for (const p of [...this.#pending.values()]) p.reject(err);
    const reported = this.#localClose ? undefined : (cause ?? err);
    for (const listener of this.#closeListeners.splice(0)) {
      try {
        listener(reported);
      } catch (e) {
        this.#log.warn({ err: e }, 'ttrpc: onClose listener threw');
      }
    }
  }
}
