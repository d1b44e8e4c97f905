// A SPDY/3.1 session over one socket: streams as Node Duplexes, SYN_REPLY, RST, PING, GOAWAY and
// flow control. kubelet's peers (Go spdystream) never send WINDOW_UPDATE nor respect windows, so
// our send windows are enforced only once the peer shows it does flow control (sends SETTINGS or
// WINDOW_UPDATE); we always grant window back as the backend consumes what we received.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/index.js';
import {
  DEFAULT_WINDOW, FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameParser, FrameType, HeaderCodec, RST_CANCEL, RST_INVALID_STREAM,
  RST_PROTOCOL_ERROR, SETTINGS_INITIAL_WINDOW_SIZE, encodeControl, encodeData, encodeGoaway, encodeRst,
  encodeWindowUpdate, streamBlockPayload, synStreamPayload, type Frame,
} from './spdy-frames.js';

const MAX_DATA_FRAME = 32 * 1024;
const MAX_STREAMS = 1000;

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: Record<string, string>;
  readonly #session: SpdySession;
  sendWindow: number;
  #unacked = 0;
  #windowWaiter: (() => void) | undefined;

  constructor(session: SpdySession, id: number, headers: Record<string, string>, sendWindow: number) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.#session = session;
    this.id = id;
    this.headers = headers;
    this.sendWindow = sendWindow;
  }

  /** Data frame from the peer. */
  receive(data: Buffer, fin: boolean): void {
    if (data.length > 0 && !this.readableEnded) {
      this.#unacked += data.length;
      if (this.push(data)) this.#ack();
    }
    if (fin && !this.readableEnded) this.push(null);
  }

  override _read(): void {
    this.#ack();
  }

  #ack(): void {
    if (this.#unacked >= DEFAULT_WINDOW / 2) {
      this.#session.grant(this.id, this.#unacked);
      this.#unacked = 0;
    }
  }

  windowUpdated(): void {
    const w = this.#windowWaiter;
    this.#windowWaiter = undefined;
    w?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#writeFrom(chunk, 0, done);
  }

  #writeFrom(chunk: Buffer, offset: number, done: (err?: Error | null) => void): void {
    if (offset >= chunk.length) { done(); return; }
    const allowed = this.#session.sendAllowance(this);
    if (allowed <= 0) {
      this.#windowWaiter = () => this.#writeFrom(chunk, offset, done);
      this.#session.waitForWindow(this);
      return;
    }
    const size = Math.min(allowed, MAX_DATA_FRAME, chunk.length - offset);
    this.#session.sendData(this, chunk.subarray(offset, offset + size), false, (err) => {
      if (err) done(err);
      else this.#writeFrom(chunk, offset + size, done);
    });
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#session.sendData(this, Buffer.alloc(0), true, done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#windowWaiter = undefined;
    this.#session.forget(this, err !== null);
    done(err);
  }
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  close: [];
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly #socket: Socket;
  readonly #codec = new HeaderCodec();
  readonly #parser = new FrameParser();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #isServer: boolean;
  readonly #log: Logger;
  #flowControlled = false;
  #initialWindow = DEFAULT_WINDOW;
  #sessionWindow = DEFAULT_WINDOW;
  #blocked = new Set<SpdyStream>();
  #rx: Promise<void> = Promise.resolve();
  #lastPeerStream = 0;
  #nextStreamId: number;
  #closed = false;

  constructor(socket: Socket, opts: { isServer: boolean; log: Logger }) {
    super();
    this.#socket = socket;
    this.#isServer = opts.isServer;
    this.#log = opts.log;
    this.#nextStreamId = opts.isServer ? 2 : 1;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.once('close', () => this.#teardown());
    socket.once('end', () => this.#teardown());
  }

  /** Feeds bytes that arrived with the HTTP upgrade request. */
  feed(head: Buffer): void {
    if (head.length > 0) this.#onData(head);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens a stream (client side; used by tests and berthctl-style clients). */
  async openStream(headers: Record<string, string>, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = this.#register(id, headers);
    const block = await this.#codec.compress(headers);
    this.#write(encodeControl(FrameType.SYN_STREAM, opts.fin ? FLAG_FIN : 0, synStreamPayload(id, 0, block)));
    return stream;
  }

  /** Accepts a peer stream with SYN_REPLY. Go spdystream ignores reply headers; spdy-transport
   *  (and the spec) want `:status`, so they are sent. */
  async reply(stream: SpdyStream): Promise<void> {
    const block = await this.#codec.compress({ ':status': '200', ':version': 'HTTP/1.1' });
    this.#write(encodeControl(FrameType.SYN_REPLY, 0, streamBlockPayload(stream.id, block)));
  }

  reset(stream: SpdyStream, status = RST_CANCEL): void {
    this.#write(encodeRst(stream.id, status));
    stream.destroy();
  }

  /** Sends GOAWAY and closes the socket once written. */
  close(): void {
    if (this.#closed) return;
    this.#write(encodeGoaway(this.#lastPeerStream, 0));
    this.#socket.end();
    this.#teardown();
  }

  sendAllowance(stream: SpdyStream): number {
    if (!this.#flowControlled) return Number.MAX_SAFE_INTEGER;
    return Math.min(stream.sendWindow, this.#sessionWindow);
  }

  waitForWindow(stream: SpdyStream): void {
    this.#blocked.add(stream);
  }

  sendData(stream: SpdyStream, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (this.#closed || this.#socket.destroyed) { done(new Error('spdy session closed')); return; }
    stream.sendWindow -= data.length;
    this.#sessionWindow -= data.length;
    // The callback fires once the kernel took the bytes: at most one frame per stream queued here.
    this.#socket.write(encodeData(stream.id, fin ? FLAG_FIN : 0, data), (err) => done(err ?? null));
  }

  grant(streamId: number, delta: number): void {
    this.#write(encodeWindowUpdate(streamId, delta));
    this.#write(encodeWindowUpdate(0, delta));
  }

  forget(stream: SpdyStream, abnormal: boolean): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    if (abnormal && !this.#closed) this.#write(encodeRst(stream.id, RST_CANCEL));
  }

  #write(buf: Buffer): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(buf);
  }

  #register(id: number, headers: Record<string, string>): SpdyStream {
    const stream = new SpdyStream(this, id, headers, this.#initialWindow);
    stream.on('error', () => undefined);
    this.#streams.set(id, stream);
    return stream;
  }

  #onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      this.#protocolError(err);
      return;
    }
    for (const f of frames) {
      // Header blocks decompress asynchronously; keep every frame in arrival order.
      this.#rx = this.#rx.then(() => this.#handle(f)).catch((err: unknown) => this.#protocolError(err));
    }
  }

  async #handle(f: Frame): Promise<void> {
    if (this.#closed) return;
    if (!f.control) {
      const stream = this.#streams.get(f.streamId);
      if (!stream) {
        this.#write(encodeRst(f.streamId, RST_INVALID_STREAM));
        return;
      }
      stream.receive(f.data, (f.flags & FLAG_FIN) !== 0);
      return;
    }
    const p = f.payload;
    switch (f.type) {
      case FrameType.SYN_STREAM: {
        if (p.length < 10) throw new Error('short SYN_STREAM');
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const headers = await this.#codec.decompress(p.subarray(10));
        if (id === 0 || this.#streams.has(id) || id % 2 === (this.#isServer ? 0 : 1) || this.#streams.size >= MAX_STREAMS) {
          this.#write(encodeRst(id, RST_PROTOCOL_ERROR));
          return;
        }
        this.#lastPeerStream = Math.max(this.#lastPeerStream, id);
        const stream = this.#register(id, headers);
        if (f.flags & FLAG_FIN) stream.push(null);
        if (f.flags & FLAG_UNIDIRECTIONAL) stream.end();
        this.emit('stream', stream);
        return;
      }
      case FrameType.SYN_REPLY:
      case FrameType.HEADERS: {
        const id = p.readUInt32BE(0) & 0x7fffffff;
        await this.#codec.decompress(p.subarray(4)); // keeps the inflate context in step
        if (f.flags & FLAG_FIN) this.#streams.get(id)?.receive(Buffer.alloc(0), true);
        return;
      }
      case FrameType.RST_STREAM: {
        const id = p.readUInt32BE(0) & 0x7fffffff;
        this.#streams.get(id)?.destroy(new Error(`stream reset by peer (status ${p.readUInt32BE(4)})`));
        return;
      }
      case FrameType.SETTINGS:
        this.#flowControlled = true;
        this.#applySettings(p);
        return;
      case FrameType.WINDOW_UPDATE: {
        this.#flowControlled = true;
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const delta = p.readUInt32BE(4) & 0x7fffffff;
        if (id === 0) this.#sessionWindow += delta;
        else {
          const s = this.#streams.get(id);
          if (s) s.sendWindow += delta;
        }
        this.#wakeBlocked();
        return;
      }
      case FrameType.PING:
        // Answer the peer's pings (its ids have the other parity); ignore answers to ours.
        if ((p.readUInt32BE(0) % 2 === 1) === this.#isServer) this.#write(encodeControl(FrameType.PING, 0, p));
        return;
      case FrameType.GOAWAY:
        this.#socket.end();
        this.#teardown();
        return;
      default:
        return; // unknown control frames are ignored, as the spec asks
    }
  }

  #applySettings(p: Buffer): void {
    const n = p.readUInt32BE(0);
    for (let i = 0; i < n && 4 + 8 * (i + 1) <= p.length; i++) {
      const id = p.readUInt32BE(4 + 8 * i) & 0xffffff;
      const value = p.readUInt32BE(8 + 8 * i);
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        const delta = value - this.#initialWindow;
        this.#initialWindow = value;
        for (const s of this.#streams.values()) s.sendWindow += delta;
      }
    }
    this.#wakeBlocked();
  }

  #wakeBlocked(): void {
    for (const s of [...this.#blocked]) {
      if (this.sendAllowance(s) > 0) {
        this.#blocked.delete(s);
        s.windowUpdated();
      }
    }
  }

  #protocolError(err: unknown): void {
    this.#log.warn({ err }, 'spdy protocol error; closing session');
    this.#write(encodeGoaway(this.#lastPeerStream, RST_PROTOCOL_ERROR));
    this.#socket.destroy();
    this.#teardown();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#streams.values()) {
      if (!s.readableEnded) s.push(null);
      s.destroy();
    }
    this.#streams.clear();
    this.#codec.close();
    this.emit('close');
  }
}
