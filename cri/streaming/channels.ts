// Node streams that sit between a backend and one protocol channel (a WebSocket channel byte or
// a SPDY stream). Output waits for the transport to accept each chunk, so a slow client makes
// the backend's pipe pause instead of the server buffering; input pauses the transport while
// the backend is not reading.
import { Duplex, Readable, Writable, finished } from 'node:stream';

const HIGH_WATER_MARK = 64 * 1024;

export type SendFn = (chunk: Buffer, done: (err?: Error | null) => void) => void;

export class OutputChannel extends Writable {
  readonly #send: SendFn;
  constructor(send: SendFn) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.#send = send;
    // A failed send means the client left; the session's abort signal tells the backend.
    this.on('error', () => undefined);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (chunk.length === 0) { done(); return; }
    this.#send(chunk, done);
  }
}

/**
 * Pauses a transport while any holder wants it paused (a full stdin, unsent pongs...), so one
 * holder's resume never undoes another's pause.
 */
export class PauseGate {
  readonly #holders = new Set<object>();
  constructor(private readonly apply: (paused: boolean) => void) {}

  set(holder: object, paused: boolean): void {
    const was = this.#holders.size > 0;
    if (paused) this.#holders.add(holder);
    else this.#holders.delete(holder);
    const now = this.#holders.size > 0;
    if (was !== now) this.apply(now);
  }

  /** A pause switch for one new holder. */
  holder(): (paused: boolean) => void {
    const token = {};
    return (paused) => this.set(token, paused);
  }
}

/** Client bytes of one channel, handed to the backend as a Readable. */
export class InputChannel extends Readable {
  readonly #setPaused: (paused: boolean) => void;
  #paused = false;
  #finished = false;
  constructor(setPaused: (paused: boolean) => void) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.#setPaused = setPaused;
  }
  /** Data from the client; pauses the transport when the backend falls behind. */
  deliver(chunk: Buffer): void {
    if (this.#finished || this.destroyed) return;
    if (!this.push(chunk) && !this.#paused) {
      this.#paused = true;
      this.#setPaused(true);
    }
  }
  /** The client closed this channel: end of input once the buffered bytes are read. */
  finish(): void {
    if (!this.#finished && !this.destroyed) this.push(null);
    this.#finished = true;
    this.#unpause();
  }
  /** Whether the client closed this channel (its end may still wait behind unread bytes). */
  get finished(): boolean {
    return this.#finished;
  }
  override _read(): void {
    this.#unpause();
  }
  #unpause(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#setPaused(false);
    }
  }
}

/** Ends `w` (if the backend has not) and waits until everything written reached the transport. */
export function endAndFlush(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (w.writableFinished || w.destroyed) { resolve(); return; }
    // readable: false — a SPDY stream is a Duplex whose read side may never end.
    finished(w, { readable: false }, () => resolve());
    if (!w.writableEnded) w.end();
  });
}

/** One forwarded TCP connection: client bytes in, pod bytes out over the same channel pair. */
export class ForwardChannel extends Duplex {
  readonly #send: SendFn;
  readonly #input: InputChannel;
  constructor(send: SendFn, setPaused: (paused: boolean) => void) {
    super({ highWaterMark: HIGH_WATER_MARK, allowHalfOpen: true });
    this.#send = send;
    this.on('error', () => undefined); // as OutputChannel: the abort signal reports it
    // Reuse InputChannel's pause bookkeeping: its data is re-pushed into this duplex.
    this.#input = new InputChannel(setPaused);
    this.#input.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.#input.pause();
    });
    this.#input.on('end', () => this.push(null));
  }
  deliver(chunk: Buffer): void {
    this.#input.deliver(chunk);
  }
  finish(): void {
    this.#input.finish();
  }
  override _read(): void {
    this.#input.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (chunk.length === 0) { done(); return; }
    this.#send(chunk, done);
  }
}
