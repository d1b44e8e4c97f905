// What a method handler of berth's gRPC server sees (docs/grpc.md): a unary call answers once
// through its callback; a server stream writes messages with backpressure, then ends with OK or
// fails with a status. The CRI has no client-streaming method, so neither has the server.
import { EventEmitter } from 'node:events';

export interface GrpcStatus {
  readonly code: number;
  readonly message: string;
}

/** One method as the server routes it: grpc-js's MethodDefinition has this shape. */
export interface MethodDef {
  readonly path: string;
  readonly responseStream: boolean;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
}

export interface UnaryCall {
  readonly method: string;
  readonly request: unknown;
}

/** Answers a unary call once: a status (code != 0) or the response. */
export type Reply = (err: GrpcStatus | null, response?: unknown) => void;
export type UnaryHandler = (call: UnaryCall, reply: Reply) => void;
export type StreamHandler = (call: ServerStream) => void;

/** The transport under a ServerStream (the HTTP/2 stream, cri/grpc/connection.ts). */
export interface StreamSink {
  /** Queues one encoded message; `done` runs once it is handed to the socket. Returns the bytes still queued. */
  send(message: Buffer, done?: () => void): number;
  finish(status: GrpcStatus): void;
}

/** Bytes queued on a stream past which `write` asks the writer to wait for 'drain'. */
export const STREAM_HIGH_WATER = 64 * 1024;

/**
 * A server-streaming call. Events: 'drain' (the queue went below the high-water mark after a
 * write returned false), 'cancelled' (the client reset the stream or its connection went).
 */
export class ServerStream extends EventEmitter {
  #ended = false;
  #cancelled = false;
  #waitingDrain = false;

  constructor(readonly method: string, readonly request: unknown, readonly serialize: (value: unknown) => Buffer, private readonly sink: StreamSink) {
    super();
  }

  /** The client cancelled or went away: nothing written now reaches it. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Ended by the server (end or fail) or cancelled: writing is over. */
  get closed(): boolean {
    return this.#ended || this.#cancelled;
  }

  /** Queues `message` (encoded here); false when the writer should wait for 'drain'. */
  write(message: unknown, done?: () => void): boolean {
    if (this.closed) return false;
    const queued = this.sink.send(this.serialize(message), done);
    if (queued < STREAM_HIGH_WATER) return true;
    this.#waitingDrain = true;
    return false;
  }

  /** Resolves when the queue drained or the stream closed. */
  drained(): Promise<void> {
    if (this.closed || !this.#waitingDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.off('drain', done);
        this.off('cancelled', done);
        resolve();
      };
      this.on('drain', done);
      this.on('cancelled', done);
    });
  }

  /** Ends the stream with OK after what is queued. */
  end(): void {
    this.fail({ code: 0, message: '' });
  }

  /** Ends the stream with `status` after what is queued. */
  fail(status: GrpcStatus): void {
    if (this.closed) return;
    this.#ended = true;
    this.sink.finish(status);
  }

  /** The transport: the queue fell below the high-water mark. */
  onDrained(): void {
    if (!this.#waitingDrain) return;
    this.#waitingDrain = false;
    this.emit('drain');
  }

  /** The transport: the client reset the stream or the connection closed. */
  onCancelled(): void {
    if (this.closed) return;
    this.#cancelled = true;
    this.emit('cancelled');
  }
}
