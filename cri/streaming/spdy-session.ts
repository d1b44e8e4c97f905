// A SPDY/3.1 session over one socket: streams as Node Duplexes, SYN_REPLY, RST, PING, GOAWAY and
// flow control. kubelet's peers (Go spdystream) never send WINDOW_UPDATE nor respect windows, so
// our send windows are enforced only once the peer shows it does flow control (sends SETTINGS or
// WINDOW_UPDATE); we always grant window back as the backend consumes what we received.
//
// Receiving is pull-driven, so no peer can make the session hold more than a bounded amount
// (docs/streaming.md, "Memory bounds"):
//   socket bytes -> FrameParser (one control frame at most; DATA streams through in pieces)
//     -> a stream's read buffer (INBOUND_HWM) -> the backend's pipe (e.g. into a stdin FIFO).
// When a stream's reader falls behind, a header block is being inflated, or the control frames
// we owe the peer pile up unsent, the session stops taking frames and pauses its socket: the
// kernel's TCP window then holds the peer back, as Go spdystream's blocking reader does.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/index.js';
import {
  DEFAULT_WINDOW, FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameParser, FrameType, HeaderCodec, RST_CANCEL, RST_INVALID_STREAM,
  RST_PROTOCOL_ERROR, RST_REFUSED_STREAM, SETTINGS_INITIAL_WINDOW_SIZE, encodeControl, encodeData, encodeGoaway, encodePing, encodeRst,
  encodeWindowUpdate, streamBlockPayload, synStreamPayload, type Frame,
} from './spdy-frames.js';

const MAX_DATA_FRAME = 32 * 1024;
/**
 * Bytes a stream may hold unread before the session stops reading: twice the receive window we
 * advertise, so a peer that honours the window never stalls the other streams.
 */
export const INBOUND_HWM = 2 * DEFAULT_WINDOW;
/** Control frames we owe the peer (replies, RSTs, window updates) left unsent before we stop reading. */
const MAX_OUTBOUND_BACKLOG = 256 * 1024;
/** How often a session that stopped reading checks that its peer is still there. */
const PAUSED_PROBE_MS = 1000;
/** How long close() waits for the peer to end the connection before ending it. */
const CLOSE_LINGER_MS = 1000;
/** Streams one session may have open at once; more are refused with RST_STREAM REFUSED_STREAM. */
export const DEFAULT_MAX_STREAMS = 128;

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: Record<string, string>;
  readonly #session: SpdySession;
  sendWindow: number;
  #unacked = 0;
  #finReceived = false;
  #windowWaiter: (() => void) | undefined;

  constructor(session: SpdySession, id: number, headers: Record<string, string>, sendWindow: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: INBOUND_HWM, writableHighWaterMark: 64 * 1024 });
    this.#session = session;
    this.id = id;
    this.headers = headers;
    this.sendWindow = sendWindow;
  }

  /** Data frame bytes from the peer; false when the reader is behind (the session stops reading). */
  receive(data: Buffer, fin: boolean): boolean {
    if (this.#finReceived || this.destroyed) return true; // after FIN or reset: dropped
    let caughtUp = true;
    if (data.length > 0) {
      this.#unacked += data.length;
      caughtUp = this.push(data);
      if (caughtUp) this.#ack();
    }
    if (fin) {
      this.#finReceived = true;
      this.push(null);
    }
    return caughtUp || fin;
  }

  override _read(): void {
    this.#ack();
    this.#session.readerCaughtUp(this);
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

export interface SpdySessionOptions {
  isServer: boolean;
  log: Logger;
  /** Open streams allowed at once (default DEFAULT_MAX_STREAMS). */
  maxStreams?: number;
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly #socket: Socket;
  readonly #codec = new HeaderCodec();
  readonly #parser = new FrameParser();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #isServer: boolean;
  readonly #maxStreams: number;
  readonly #log: Logger;
  #flowControlled = false;
  #initialWindow = DEFAULT_WINDOW;
  #sessionWindow = DEFAULT_WINDOW;
  readonly #blocked = new Set<SpdyStream>();
  /** Streams whose reader is behind: nothing more is taken from the socket until they catch up. */
  readonly #behind = new Set<SpdyStream>();
  #inflating = false;
  #pumping = false;
  #readPaused = false;
  #lastPeerStream = 0;
  #nextStreamId: number;
  #probe: NodeJS.Timeout | undefined;
  /** Our PING ids: even on the server side, odd on the client side (the SPDY/3 draft, section 2.6.5 "PING"). */
  #pingId: number;
  #closed = false;

  constructor(socket: Socket, opts: SpdySessionOptions) {
    super();
    this.#socket = socket;
    this.#isServer = opts.isServer;
    this.#maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.#log = opts.log;
    this.#nextStreamId = opts.isServer ? 2 : 1;
    this.#pingId = opts.isServer ? 0 : -1;
    socket.on('data', (chunk: Buffer) => this.#received(chunk));
    socket.on('drain', () => this.#pump());
    socket.once('close', () => this.#teardown());
    socket.once('end', () => this.#teardown());
  }

  /** Feeds bytes that arrived with the HTTP upgrade request. */
  feed(head: Buffer): void {
    if (head.length > 0) this.#received(head);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Streams open now (diagnostics and tests). */
  get openStreams(): number {
    return this.#streams.size;
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

  /**
   * Sends GOAWAY and ends the socket once the peer ended its side, or after CLOSE_LINGER_MS: a
   * client that reads frames asynchronously (spdy-transport) drops the ones still queued when the
   * connection closes under it, so the last frames get time to be read.
   */
  close(): void {
    if (this.#closed) return;
    this.#write(encodeGoaway(this.#lastPeerStream, 0));
    this.#teardown();
    const socket = this.#socket;
    if (socket.readableEnded || socket.destroyed) { socket.end(); return; }
    const end = () => { clearTimeout(timer); socket.end(); };
    const timer = setTimeout(end, CLOSE_LINGER_MS);
    timer.unref();
    socket.once('end', end);
    socket.resume(); // the peer's FIN must be seen even if we paused reading
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

  /** A stream's reader took bytes: frames may flow again once no stream is behind. */
  readerCaughtUp(stream: SpdyStream): void {
    if (this.#behind.delete(stream)) this.#pump();
  }

  forget(stream: SpdyStream, abnormal: boolean): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    if (abnormal && !this.#closed) this.#write(encodeRst(stream.id, RST_CANCEL));
    if (this.#behind.delete(stream)) this.#pump();
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

  #received(chunk: Buffer): void {
    if (this.#closed) return;
    this.#parser.push(chunk);
    this.#pump();
  }

  /** Whether the next frame may be handled now (see the top of this file). */
  #mayTakeFrames(): boolean {
    return !this.#inflating && this.#behind.size === 0 && this.#socket.writableLength <= MAX_OUTBOUND_BACKLOG;
  }

  /** Handles the frames the parser holds while allowed, then pauses or resumes the socket. */
  #pump(): void {
    if (this.#pumping || this.#closed) return; // re-entered from a stream event: the loop below goes on
    this.#pumping = true;
    try {
      while (!this.#closed && this.#mayTakeFrames()) {
        const f = this.#parser.next();
        if (!f) break;
        this.#handle(f);
      }
    } catch (err) {
      this.#protocolError(err);
    } finally {
      this.#pumping = false;
    }
    if (this.#closed) return;
    const pause = !this.#mayTakeFrames();
    if (pause !== this.#readPaused) {
      this.#readPaused = pause;
      if (pause) this.#socket.pause();
      else this.#socket.resume();
      this.#probeWhilePaused(pause);
    }
  }

  /**
   * A paused socket reads nothing, so it would never see the peer leave: while paused, a PING
   * every PAUSED_PROBE_MS makes a gone peer's RST surface as a write error (and the session end).
   */
  #probeWhilePaused(paused: boolean): void {
    clearInterval(this.#probe);
    this.#probe = undefined;
    if (!paused) return;
    this.#probe = setInterval(() => {
      this.#pingId += 2;
      this.#write(encodePing(this.#pingId));
    }, PAUSED_PROBE_MS);
    this.#probe.unref();
  }

  #handle(f: Frame): void {
    if (!f.control) {
      const stream = this.#streams.get(f.streamId);
      if (!stream) {
        if (f.first) this.#write(encodeRst(f.streamId, RST_INVALID_STREAM));
        return;
      }
      if (!stream.receive(f.data, f.fin)) this.#behind.add(stream);
      return;
    }
    const p = f.payload;
    switch (f.type) {
      case FrameType.SYN_STREAM:
        if (p.length < 10) throw new Error('short SYN_STREAM');
        this.#inflate(p.subarray(10), (headers) => this.#synStream(p.readUInt32BE(0) & 0x7fffffff, f.flags, headers));
        return;
      case FrameType.SYN_REPLY:
      case FrameType.HEADERS: {
        if (p.length < 4) throw new Error('short header frame');
        const id = p.readUInt32BE(0) & 0x7fffffff;
        // inflated even when ignored: it keeps the inflate context in step
        this.#inflate(p.subarray(4), () => {
          if (f.flags & FLAG_FIN) this.#streams.get(id)?.receive(Buffer.alloc(0), true);
        });
        return;
      }
      case FrameType.RST_STREAM: {
        if (p.length < 8) throw new Error('short RST_STREAM');
        const id = p.readUInt32BE(0) & 0x7fffffff;
        this.#streams.get(id)?.destroy(new Error(`stream reset by peer (status ${p.readUInt32BE(4)})`));
        return;
      }
      case FrameType.SETTINGS:
        this.#flowControlled = true;
        this.#applySettings(p);
        return;
      case FrameType.WINDOW_UPDATE: {
        if (p.length < 8) throw new Error('short WINDOW_UPDATE');
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
        if (p.length < 4) throw new Error('short PING');
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

  /** Inflates a header block with the frames after it held back, then continues with them. */
  #inflate(block: Buffer, then: (headers: Record<string, string>) => void): void {
    this.#inflating = true;
    this.#codec.decompress(block).then((headers) => {
      this.#inflating = false;
      if (this.#closed) return;
      then(headers);
      this.#pump();
    }).catch((err: unknown) => this.#protocolError(err));
  }

  #synStream(id: number, flags: number, headers: Record<string, string>): void {
    if (id === 0 || this.#streams.has(id) || id % 2 === (this.#isServer ? 0 : 1)) {
      this.#write(encodeRst(id, RST_PROTOCOL_ERROR));
      return;
    }
    this.#lastPeerStream = Math.max(this.#lastPeerStream, id);
    // Past the cap, or with nobody to take it: refused, so a peer cannot park unread streams.
    if (this.#streams.size >= this.#maxStreams || this.listenerCount('stream') === 0) {
      this.#write(encodeRst(id, RST_REFUSED_STREAM));
      return;
    }
    const stream = this.#register(id, headers);
    if (flags & FLAG_FIN) stream.receive(Buffer.alloc(0), true);
    if (flags & FLAG_UNIDIRECTIONAL) stream.end();
    this.emit('stream', stream);
  }

  #applySettings(p: Buffer): void {
    if (p.length < 4) throw new Error('short SETTINGS');
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
    if (this.#closed) return;
    this.#log.warn({ err }, 'spdy protocol error; closing session');
    this.#write(encodeGoaway(this.#lastPeerStream, RST_PROTOCOL_ERROR));
    this.#socket.end();
    // a peer that never reads must not keep the socket (and the GOAWAY) alive
    setTimeout(() => this.#socket.destroy(), 1000).unref();
    this.#teardown();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    for (const s of this.#streams.values()) {
      s.receive(Buffer.alloc(0), true);
      s.destroy();
    }
    this.#streams.clear();
    this.#behind.clear();
    this.#blocked.clear();
    this.#codec.close();
    this.emit('close');
  }
}
