// One client connection of berth's gRPC server: HTTP/2 (RFC 9113) over the accepted unix socket,
// gRPC's HTTP/2 mapping on top (docs/grpc.md). Frames are read and written here, in JavaScript,
// on the socket itself: no nghttp2 session, no Duplex per stream, no header object per field.
//
//   client                                   server (this file)
//   preface, SETTINGS            -->         SETTINGS (ours), WINDOW_UPDATE(0), SETTINGS ACK
//   HEADERS /svc/Method, DATA    -->         decode, route, handler
//                                <--         HEADERS :status 200, DATA message, HEADERS grpc-status
//   RST_STREAM                   -->         the call is cancelled; its answer is dropped
//
// Flow control: a stream's receive window opens to its one request once the message's length is
// known (the CRI sends one message per call); the connection's is replenished as data arrives
// while the requests still incomplete hold less than MAX_BUFFERED; what the server sends waits
// for the client's windows, per stream, in order. Reading pauses while the socket holds more
// than MAX_UNSENT bytes the client has not read. docs/grpc.md.
import type { Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { Code, type Logger } from '../../common/index.js';
import { ServerStream, STREAM_HIGH_WATER, type GrpcStatus, type MethodDef, type StreamHandler, type StreamSink, type UnaryHandler } from './calls.js';
import {
  ConnectionError, dataPayload, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, Flag, frame, FRAME_HEADER_LENGTH, FrameReader, FrameType, goawayFrame, H2Error,
  headersFragment, MAX_WINDOW, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame, writeFrameHeader, type Frame,
} from './frames.js';
import { BlockDecoder, httpStatusBlock, RESPONSE_HEAD, statusBlock, TRAILERS_OK, type HeaderField } from './hpack.js';

export interface Route {
  readonly def: MethodDef;
  readonly method: string;
  readonly unary?: UnaryHandler;
  readonly stream?: StreamHandler;
}

export interface ConnectionOptions {
  readonly routes: ReadonlyMap<string, Route>;
  readonly log: Logger;
  /** Largest request message accepted (kubelet's own limit is 16 MiB). */
  readonly maxReceiveBytes: number;
  /** Largest response message sent; a larger one fails the call with RESOURCE_EXHAUSTED. */
  readonly maxSendBytes: number;
  readonly maxConcurrentStreams: number;
  readonly maxHeaderListBytes: number;
}

/** The connection window berth grants; replenished once half of it is used. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** A stream's window before its message's length is known (SETTINGS_INITIAL_WINDOW_SIZE). */
const STREAM_WINDOW = 1024 * 1024;
/** Bytes of incomplete requests a connection may hold before its window stops reopening. */
const MAX_BUFFERED = 64 * 1024 * 1024;
/** Bytes written but not yet taken by the client past which the connection stops reading. */
const MAX_UNSENT = 4 * 1024 * 1024;
/** How long a new connection may take to send its preface (GrpcServer sweeps them). */
export const PREFACE_TIMEOUT_MS = 10_000;

interface OpenBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
  size: number;
}

/** Queued output of a stream: message bytes and what to call once each is written. */
interface Pending {
  bytes: Buffer;
  readonly done: (() => void) | undefined;
}

class H2Stream implements StreamSink {
  /** The client's half is closed (END_STREAM seen). */
  remoteDone = false;
  /** The server's half is closed (END_STREAM sent, or the stream was reset). */
  localDone = false;
  headersSent = false;
  sendWindow: number;
  received: Buffer[] = [];
  receivedBytes = 0;
  /** Receive window granted so far (flow-controlled bytes the client may send). */
  granted = STREAM_WINDOW;
  lengthChecked = false;
  /** A unary answer was given (a second one is a handler's bug, dropped). */
  answered = false;
  /** Counted in the connection's running handlers until it answers or ends. */
  running = false;
  readonly queue: Pending[] = [];
  queuedBytes = 0;
  trailer: Buffer | undefined;
  call: ServerStream | undefined;

  constructor(
    readonly conn: Connection, readonly id: number, readonly route: Route | undefined, readonly deadline: number,
    readonly encoding: string | undefined, sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  send(message: Buffer, done?: () => void): number {
    return this.conn.sendMessage(this, message, done);
  }

  finish(status: GrpcStatus): void {
    this.conn.finish(this, status);
  }
}

/** grpc-timeout (gRPC over HTTP/2: digits and a unit) in ms from now, or undefined. */
export function parseTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return n * scale;
}

export class Connection {
  readonly #socket: Socket;
  readonly #opts: ConnectionOptions;
  readonly #log: Logger;
  readonly #reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  readonly #decoder = new BlockDecoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Streams with output waiting for the connection's window. */
  readonly #blocked = new Set<H2Stream>();
  #lastStreamId = 0;
  #sendWindow = DEFAULT_WINDOW;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #receivedUnacked = 0;
  #block: OpenBlock | undefined;
  #out: Buffer[] = [];
  #flushQueued = false;
  #closed = false;
  #peerEnded = false;
  #prefaceSent = false;
  #urgent = false;
  #goingAway = false;
  #onIdle: (() => void) | undefined;
  /** Bytes held in requests not yet complete. */
  #buffered = 0;
  /** What the client may still send on the connection (a little generous before our preface lands). */
  #recvWindow = CONNECTION_WINDOW;
  /** Handlers started and not yet answered (a reset stream's handler still counts). */
  #running = 0;
  #readPaused = false;

  constructor(socket: Socket, opts: ConnectionOptions, readonly onClose: (c: Connection) => void) {
    this.#socket = socket;
    this.#opts = opts;
    this.#log = opts.log;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => { this.#peerEnded = true; });
    socket.on('error', (err) => this.#log.debug({ err }, 'gRPC connection error'));
    socket.on('close', () => this.#onSocketClose());
    socket.on('drain', () => this.#resumeReading());

  }

  /**
   * The server preface answers the client's, at the end of the tick that read it: a client always
   * sends its preface first, and one write then carries SETTINGS, the window, the ACK and, when
   * the client did not wait for the server's SETTINGS (grpc-go 1.33 does), the first answer.
   */
  #sendPreface(): void {
    this.#prefaceSent = true;
    this.#write(settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, this.#opts.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [Setting.MAX_HEADER_LIST_SIZE, this.#opts.maxHeaderListBytes],
    ]));
    this.#write(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  readonly createdAt = Date.now();

  /** The client's preface has arrived (a connection without one is cut after PREFACE_TIMEOUT_MS). */
  get started(): boolean {
    return this.#prefaceSent;
  }

  /** No new streams (GOAWAY); `onIdle` runs once the open ones are done. */
  goAway(onIdle: () => void): void {
    if (this.#closed) return onIdle();
    this.#goingAway = true;
    this.#onIdle = onIdle;
    if (!this.#prefaceSent) this.#sendPreface(); // SETTINGS is always the server's first frame
    this.#write(goawayFrame(this.#lastStreamId, H2Error.NO_ERROR, 'server shutting down'));
    if (this.#streams.size === 0) this.#idle();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  // ---- reading

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#reader.push(chunk);
      if (!this.#reader.preface()) return;
      if (!this.#prefaceSent) this.#sendPreface();
      for (let f = this.#reader.next(); f; f = this.#reader.next()) this.#frame(f);
      this.#reopenWindow();
    } catch (err) {
      const code = err instanceof ConnectionError ? err.h2code : H2Error.INTERNAL_ERROR;
      const message = err instanceof Error ? err.message : String(err);
      this.#log.warn({ err: message, h2code: code }, 'gRPC connection: protocol error; closing it');
      this.#write(goawayFrame(this.#lastStreamId, code, message.slice(0, 200)));
      this.#flush();
      this.#closed = true;
      this.#socket.end();
      // A client that does not close its end in time is cut off.
      setTimeout(() => this.#socket.destroy(), 1000).unref();
      this.#cancelAll();
    }
  }

  /** Replenishes the connection's receive window unless incomplete requests hold too much. */
  #reopenWindow(): void {
    if (this.#receivedUnacked < CONNECTION_WINDOW / 2 || this.#buffered > MAX_BUFFERED) return;
    this.#write(windowUpdateFrame(0, this.#receivedUnacked), false);
    this.#recvWindow += this.#receivedUnacked;
    this.#receivedUnacked = 0;
  }

  /** Bytes of an incomplete request leave the connection's account (answered, refused, reset). */
  #release(s: H2Stream): void {
    this.#buffered -= s.receivedBytes;
    s.receivedBytes = 0;
    s.received = [];
  }

  #frame(f: Frame): void {
    if (this.#block && f.type !== FrameType.CONTINUATION) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a frame inside an open header block');
    switch (f.type) {
      case FrameType.DATA: return this.#data(f);
      case FrameType.HEADERS: return this.#headers(f);
      case FrameType.CONTINUATION: return this.#continuation(f);
      case FrameType.RST_STREAM: return this.#rst(f);
      case FrameType.SETTINGS: return this.#settings(f);
      case FrameType.PING: return this.#ping(f);
      case FrameType.GOAWAY: this.#goingAway = true; return;
      case FrameType.WINDOW_UPDATE: return this.#windowUpdate(f);
      case FrameType.PUSH_PROMISE: throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default: return; // PRIORITY and unknown types are ignored (RFC 9113 §5.5, §6.3)
    }
  }

  #settings(f: Frame): void {
    if (f.streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (f.flags & Flag.ACK) return;
    if (f.payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
    for (let i = 0; i < f.payload.length; i += 6) {
      const id = f.payload.readUInt16BE(i);
      const value = f.payload.readUInt32BE(i + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1');
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const s of this.#streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'a stream window past 2^31-1');
        }
        if (delta > 0) for (const s of this.#streams.values()) this.#pump(s);
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
        this.#peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE bounds a table berth's encoder never uses; the rest concern a client's side.
    }
    this.#write(frame(FrameType.SETTINGS, Flag.ACK, 0), false);
  }

  #ping(f: Frame): void {
    if (f.streamId !== 0 || f.payload.length !== 8) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad PING');
    if (!(f.flags & Flag.ACK)) this.#write(frame(FrameType.PING, Flag.ACK, 0, f.payload), false);
  }

  #windowUpdate(f: Frame): void {
    if (f.payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
    const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
    if (f.streamId === 0) {
      if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window past 2^31-1');
      for (const s of [...this.#blocked]) {
        this.#blocked.delete(s);
        this.#pump(s);
      }
      return;
    }
    const s = this.#streams.get(f.streamId);
    if (!s) return;
    if (inc === 0 || s.sendWindow + inc > MAX_WINDOW) {
      this.#reset(s, inc === 0 ? H2Error.PROTOCOL_ERROR : H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    s.sendWindow += inc;
    this.#pump(s);
  }

  #rst(f: Frame): void {
    if (f.streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on the connection');
    if (f.payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
    const s = this.#streams.get(f.streamId);
    if (!s) return;
    s.localDone = true;
    this.#drop(s);
    this.#cancelled(s);
  }

  #headers(f: Frame): void {
    if (f.streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on the connection');
    const fragment = headersFragment(f);
    this.#block = { streamId: f.streamId, endStream: (f.flags & Flag.END_STREAM) !== 0, fragments: [fragment], size: fragment.length };
    if (f.flags & Flag.END_HEADERS) this.#blockDone();
  }

  #continuation(f: Frame): void {
    const b = this.#block;
    if (!b || b.streamId !== f.streamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    b.fragments.push(f.payload);
    b.size += f.payload.length;
    if (b.size > this.#opts.maxHeaderListBytes) throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `header block past ${this.#opts.maxHeaderListBytes} bytes`);
    if (f.flags & Flag.END_HEADERS) this.#blockDone();
  }

  #blockDone(): void {
    const b = this.#block!;
    this.#block = undefined;
    const fields = this.#decoder.decode(b.fragments.length === 1 ? b.fragments[0]! : Buffer.concat(b.fragments), this.#opts.maxHeaderListBytes);
    const open = this.#streams.get(b.streamId);
    if (open) { // trailers from a client: gRPC clients send none, END_STREAM is what counts
      if (!b.endStream) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a second header block without END_STREAM');
      this.#remoteEnd(open);
      return;
    }
    if ((b.streamId & 1) === 0 || b.streamId <= this.#lastStreamId) {
      // a stream the server already closed: its late headers change nothing (RFC 9113 §5.1)
      if (b.streamId <= this.#lastStreamId && (b.streamId & 1) === 1) return;
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `client opened stream ${b.streamId}`);
    }
    this.#lastStreamId = b.streamId;
    // Handlers of reset streams still run: they count until they answer (HTTP/2 rapid reset).
    if (this.#goingAway || this.#streams.size >= this.#opts.maxConcurrentStreams || this.#running >= this.#opts.maxConcurrentStreams) {
      this.#write(rstStreamFrame(b.streamId, H2Error.REFUSED_STREAM));
      return;
    }
    this.#open(b.streamId, fields, b.endStream);
  }

  #open(id: number, fields: HeaderField[], endStream: boolean): void {
    let method = '';
    let path = '';
    let contentType = '';
    let timeout = '';
    let encoding: string | undefined;
    for (const f of fields) {
      switch (f.name) {
        case ':method': method = f.value; break;
        case ':path': path = f.value; break;
        case 'content-type': contentType = f.value; break;
        case 'grpc-timeout': timeout = f.value; break;
        case 'grpc-encoding': encoding = f.value; break;
        default: break;
      }
    }
    if (method !== 'POST' || !(contentType === 'application/grpc' || contentType.startsWith('application/grpc+') || contentType.startsWith('application/grpc;'))) {
      // Not a gRPC request (RFC 9113 §8.1; gRPC over HTTP/2: 405 and 415)
      this.#log.warn({ method, path, contentType }, 'gRPC connection: not a gRPC request');
      this.#write(this.#headerFrames(id, httpStatusBlock(method !== 'POST' ? 405 : 415), true));
      if (!endStream) this.#write(rstStreamFrame(id, H2Error.NO_ERROR));
      return;
    }
    const route = this.#opts.routes.get(path);
    const ms = timeout ? parseTimeout(timeout) : undefined;
    const s = new H2Stream(this, id, route, ms === undefined ? Infinity : Date.now() + ms, encoding === 'identity' ? undefined : encoding, this.#peerInitialWindow);
    this.#streams.set(id, s);
    if (!route) {
      this.#log.warn({ path }, 'gRPC call of an unknown method');
      this.finish(s, { code: Code.UNIMPLEMENTED, message: `unknown method ${path}` });
      return;
    }
    if (encoding !== undefined && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      this.#log.warn({ path, encoding }, 'gRPC call with an unsupported grpc-encoding');
      this.finish(s, { code: Code.UNIMPLEMENTED, message: `grpc-encoding ${encoding} is not supported (identity, gzip, deflate are)` });
      return;
    }
    if (endStream) this.#remoteEnd(s);
  }

  #data(f: Frame): void {
    // Every DATA frame counts against the connection's window, whatever its stream (RFC 9113 §6.9).
    this.#receivedUnacked += f.payload.length;
    this.#recvWindow -= f.payload.length;
    if (this.#recvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the connection window');
    if (f.streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on the connection');
    const s = this.#streams.get(f.streamId);
    if (!s || s.remoteDone) {
      if (f.streamId > this.#lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${f.streamId}`);
      return; // a stream already answered or reset: nothing to do with its bytes
    }
    const data = dataPayload(f);
    s.receivedBytes += f.payload.length;
    this.#buffered += f.payload.length;
    if (s.receivedBytes > s.granted) {
      this.#reset(s, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    // Copied out of the socket's chunk when small, so a held request does not pin 64 KiB chunks.
    if (data.length > 0) s.received.push(data.length < 4096 ? Buffer.from(data) : data);
    // Once the length prefix is in: a message past the limit is refused, not read; a large one
    // gets the window it needs.
    if (!s.lengthChecked && s.received.length > 0 && this.#lengthKnown(s)) return;
    if (f.flags & Flag.END_STREAM) this.#remoteEnd(s);
  }

  /**
   * Reads the request's length prefix once it is in. Past the limit: the call is answered
   * RESOURCE_EXHAUSTED and true returned. Larger than the stream's window: the window opens to it.
   */
  #lengthKnown(s: H2Stream): boolean {
    const first = s.received[0]!;
    const prefix = first.length >= 5 ? first : Buffer.concat(s.received);
    if (prefix.length < 5) return false;
    s.lengthChecked = true;
    const length = prefix.readUInt32BE(1);
    if (length > this.#opts.maxReceiveBytes) {
      this.#log.warn({ method: s.route?.method, bytes: length }, 'gRPC call refused: request message past the limit');
      this.#release(s);
      this.finish(s, { code: Code.RESOURCE_EXHAUSTED, message: `request message of ${length} bytes, past the ${this.#opts.maxReceiveBytes} accepted` });
      return true;
    }
    // The message and its prefix, with room for padding a client might add.
    const need = Math.min(MAX_WINDOW, 5 + length + 64 * 1024);
    if (need > s.granted && !s.remoteDone) {
      this.#write(windowUpdateFrame(s.id, need - s.granted), false);
      s.granted = need;
    }
    return false;
  }

  /** The client's half of `s` ended: its request is complete. */
  #remoteEnd(s: H2Stream): void {
    s.remoteDone = true;
    if (s.localDone) {
      this.#drop(s);
      return;
    }
    const route = s.route!;
    let request: unknown;
    try {
      request = route.def.requestDeserialize(this.#message(s));
    } catch (err) {
      const status = isStatus(err) ? err : { code: Code.INTERNAL, message: `cannot decode the request: ${(err as Error).message}` };
      this.#log.warn({ method: route.method, code: status.code, err: status.message }, 'gRPC call refused');
      this.finish(s, status);
      return;
    }
    this.#release(s);
    s.running = true;
    this.#running++;
    if (route.stream) {
      const call = new ServerStream(route.method, request, route.def.responseSerialize, s);
      s.call = call;
      try {
        route.stream(call);
      } catch (err) {
        this.#log.error({ method: route.method, err }, 'gRPC stream handler threw');
        call.fail({ code: Code.UNKNOWN, message: errorText(err) });
      }
      return;
    }
    try {
      route.unary!({ method: route.method, request }, (err, response) => this.#answer(s, err, response));
    } catch (err) {
      this.#log.error({ method: route.method, err }, 'gRPC handler threw');
      this.#answer(s, { code: Code.UNKNOWN, message: errorText(err) });
    }
  }

  /** `s`'s handler is done (answered, ended, or its stream is gone). */
  #handlerDone(s: H2Stream): void {
    if (!s.running) return;
    s.running = false;
    this.#running--;
  }

  /** The one message of a request (gRPC's length-prefixed framing), decompressed. */
  #message(s: H2Stream): Buffer {
    const body = s.received.length === 1 ? s.received[0]! : Buffer.concat(s.received);
    if (body.length < 5) throw status(Code.INTERNAL, 'the request carries no message');
    const length = body.readUInt32BE(1);
    if (length > this.#opts.maxReceiveBytes) throw status(Code.RESOURCE_EXHAUSTED, `request message of ${length} bytes, past the ${this.#opts.maxReceiveBytes} accepted`);
    if (body.length !== 5 + length) throw status(Code.INTERNAL, body.length < 5 + length ? 'the request message is cut short' : 'more than one request message on a unary call');
    const bytes = body.subarray(5);
    if (body[0] === 0) return bytes;
    if (body[0] !== 1) throw status(Code.INTERNAL, `bad message flag ${body[0]}`);
    if (s.encoding === 'gzip') return capped(() => gunzipSync(bytes, { maxOutputLength: this.#opts.maxReceiveBytes }), this.#opts.maxReceiveBytes);
    if (s.encoding === 'deflate') return capped(() => inflateSync(bytes, { maxOutputLength: this.#opts.maxReceiveBytes }), this.#opts.maxReceiveBytes);
    throw status(Code.INTERNAL, 'a compressed message without grpc-encoding');
  }

  // ---- writing

  /** A unary call's answer; dropped when the client has gone. */
  #answer(s: H2Stream, err: GrpcStatus | null, response?: unknown): void {
    if (s.answered) {
      this.#log.error({ method: s.route?.method }, 'gRPC handler answered twice; the second answer is dropped');
      return;
    }
    s.answered = true;
    this.#handlerDone(s);
    if (s.localDone || this.#closed) return;
    if (!err && Date.now() > s.deadline) err = { code: Code.DEADLINE_EXCEEDED, message: 'deadline exceeded before the answer was ready' };
    if (err) {
      this.finish(s, err);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = s.route!.def.responseSerialize(response ?? {});
    } catch (e) {
      this.#log.error({ method: s.route!.method, err: e }, 'gRPC response cannot be encoded');
      this.finish(s, { code: Code.INTERNAL, message: `cannot encode the response: ${(e as Error).message}` });
      return;
    }
    if (bytes.length > this.#opts.maxSendBytes) {
      this.finish(s, { code: Code.RESOURCE_EXHAUSTED, message: `response of ${bytes.length} bytes, past the ${this.#opts.maxSendBytes} sent` });
      return;
    }
    const total = 5 + bytes.length;
    if (total <= this.#peerMaxFrame && total <= s.sendWindow && total <= this.#sendWindow) {
      // The common case: head, message and trailers in one write, the message not copied.
      s.sendWindow -= total;
      this.#sendWindow -= total;
      const head = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + RESPONSE_HEAD.length + FRAME_HEADER_LENGTH + 5);
      writeFrameHeader(head, 0, RESPONSE_HEAD.length, FrameType.HEADERS, Flag.END_HEADERS, s.id);
      RESPONSE_HEAD.copy(head, FRAME_HEADER_LENGTH);
      let at = FRAME_HEADER_LENGTH + RESPONSE_HEAD.length;
      writeFrameHeader(head, at, total, FrameType.DATA, 0, s.id);
      at += FRAME_HEADER_LENGTH;
      head[at] = 0;
      head.writeUInt32BE(bytes.length, at + 1);
      s.headersSent = true;
      this.#write(head);
      if (bytes.length > 0) this.#write(bytes);
      this.#write(this.#headerFrames(s.id, TRAILERS_OK, true));
      this.#closeLocal(s);
      return;
    }
    this.sendMessage(s, bytes);
    this.finish(s, { code: 0, message: '' });
  }

  /** Queues one message on `s` (ServerStream.write, large unary answers). Returns the bytes still queued. */
  sendMessage(s: H2Stream, bytes: Buffer, done?: () => void): number {
    if (s.localDone || this.#closed) return 0;
    if (!s.headersSent) {
      s.headersSent = true;
      this.#write(this.#headerFrames(s.id, RESPONSE_HEAD, false));
    }
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(bytes.length, 1);
    s.queue.push({ bytes: prefix, done: undefined }, { bytes, done });
    s.queuedBytes += 5 + bytes.length;
    this.#pump(s);
    return s.queuedBytes;
  }

  /** Ends `s` with `status` once its queued messages are out. */
  finish(s: H2Stream, status: GrpcStatus): void {
    if (s.call) this.#handlerDone(s);
    if (s.localDone || this.#closed || s.trailer) return;
    const message = status.message;
    if (!s.headersSent) { // Trailers-Only
      s.headersSent = true;
      this.#write(this.#headerFrames(s.id, statusBlock(status.code, message, true), true));
      this.#closeLocal(s);
      return;
    }
    s.trailer = status.code === 0 ? TRAILERS_OK : statusBlock(status.code, message, false);
    this.#pump(s);
  }

  /** Sends what `s` has queued as far as both windows allow, then its trailers. */
  #pump(s: H2Stream): void {
    if (s.localDone) return;
    while (s.queue.length > 0) {
      const p = s.queue[0]!;
      const room = Math.min(s.sendWindow, this.#sendWindow, this.#peerMaxFrame);
      if (room <= 0 && p.bytes.length > 0) {
        if (this.#sendWindow <= 0) this.#blocked.add(s);
        return;
      }
      const part = p.bytes.length <= room ? p.bytes : p.bytes.subarray(0, room);
      if (part.length > 0) {
        const head = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
        writeFrameHeader(head, 0, part.length, FrameType.DATA, 0, s.id);
        this.#write(head);
        this.#write(part);
        s.sendWindow -= part.length;
        this.#sendWindow -= part.length;
        s.queuedBytes -= part.length;
      }
      if (part.length < p.bytes.length) {
        p.bytes = p.bytes.subarray(part.length);
        continue;
      }
      s.queue.shift();
      if (p.done) this.#notify(s, p.done);
      if (s.localDone) return; // the callback ended or reset the stream
    }
    if (s.call && s.queuedBytes < STREAM_HIGH_WATER) this.#notify(s, () => s.call!.onDrained());
    const trailer = s.trailer;
    if (trailer && !s.localDone && s.queue.length === 0) {
      s.trailer = undefined;
      this.#write(this.#headerFrames(s.id, trailer, true));
      this.#closeLocal(s);
    }
  }

  /** Runs a handler's callback; what it throws is logged, never the connection's failure. */
  #notify(s: H2Stream, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ method: s.route?.method, err }, 'gRPC stream callback threw');
    }
  }

  #cancelled(s: H2Stream): void {
    if (s.call) {
      this.#handlerDone(s);
      this.#notify(s, () => s.call!.onCancelled());
    }
  }

  /** HEADERS (+ CONTINUATION) frames of `block` on stream `id`. */
  #headerFrames(id: number, block: Buffer, endStream: boolean): Buffer {
    if (block.length <= this.#peerMaxFrame) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + block.length);
      writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id);
      block.copy(out, FRAME_HEADER_LENGTH);
      return out;
    }
    const parts: Buffer[] = [];
    for (let at = 0; at < block.length; at += this.#peerMaxFrame) {
      const piece = block.subarray(at, at + this.#peerMaxFrame);
      const last = at + this.#peerMaxFrame >= block.length;
      const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      parts.push(frame(type, (last ? Flag.END_HEADERS : 0) | (at === 0 && endStream ? Flag.END_STREAM : 0), id, piece));
    }
    return Buffer.concat(parts);
  }

  /** The server's half of `s` is closed: the stream ends when the client's has too. */
  #closeLocal(s: H2Stream): void {
    s.localDone = true;
    // A client still sending gets told to stop (RFC 9113 §8.1).
    if (!s.remoteDone) this.#write(rstStreamFrame(s.id, H2Error.NO_ERROR));
    this.#drop(s);
  }

  #reset(s: H2Stream, code: number): void {
    this.#write(rstStreamFrame(s.id, code));
    s.localDone = true;
    this.#drop(s);
    this.#cancelled(s);
  }

  #drop(s: H2Stream): void {
    this.#release(s);
    this.#streams.delete(s.id);
    this.#blocked.delete(s);
    if (this.#goingAway && this.#streams.size === 0) this.#idle();
  }

  #idle(): void {
    const f = this.#onIdle;
    this.#onIdle = undefined;
    if (!f) return;
    this.#flush();
    this.#socket.end();
    f();
  }

  /**
   * Queues bytes for the socket. Answers (`urgent`) go out at the end of this tick; frames only
   * the protocol asks for (ACKs, window updates) after I/O, by when a client that has closed
   * its end is known to have, and nothing is written to a closed socket.
   */
  #write(buf: Buffer, urgent = true): void {
    this.#out.push(buf);
    if (urgent) {
      if (this.#urgent) return;
      this.#urgent = true;
      process.nextTick(this.#flushNow);
      return;
    }
    // an answer already queued takes these along
    if (this.#urgent || this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(this.#flushNow);
  }

  readonly #flushNow = (): void => this.#flush();

  #flush(): void {
    this.#flushQueued = false;
    this.#urgent = false;
    const out = this.#out;
    if (out.length === 0) return;
    this.#out = [];
    const socket = this.#socket;
    if (this.#peerEnded || socket.destroyed || socket.writableEnded) return;
    // A client that closes right after its answer (crictl, probes: a connection per call) makes
    // the write of its PING ACK fail with EPIPE; Node builds that error inside write(), and its
    // stack trace would be most of the connection's cost. The error is logged without one.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      if (out.length === 1) socket.write(out[0]!);
      else {
        socket.cork();
        for (const b of out) socket.write(b);
        socket.uncork();
      }
    } finally {
      Error.stackTraceLimit = limit;
    }
    // A client that does not read its answers (or floods PINGs without reading the ACKs) is not
    // read either until it catches up: the bytes waiting for it stay bounded.
    if (socket.writableLength > MAX_UNSENT && !this.#readPaused) {
      this.#readPaused = true;
      socket.pause();
    }
  }

  #resumeReading(): void {
    if (!this.#readPaused) return;
    this.#readPaused = false;
    this.#socket.resume();
  }

  #cancelAll(): void {
    const open = [...this.#streams.values()];
    this.#streams.clear();
    this.#blocked.clear();
    for (const s of open) {
      s.localDone = true;
      this.#release(s);
      this.#cancelled(s);
    }
  }

  #onSocketClose(): void {
    this.#closed = true;
    this.#cancelAll();
    this.#idle();
    this.onClose(this);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function status(code: number, message: string): GrpcStatus & Error {
  return Object.assign(new Error(message), { code, message });
}

function isStatus(e: unknown): e is GrpcStatus {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number';
}

function capped(run: () => Buffer, max: number): Buffer {
  try {
    return run();
  } catch (err) {
    const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw status(tooBig ? Code.RESOURCE_EXHAUSTED : Code.INTERNAL, tooBig ? `decompressed request past the ${max} bytes accepted` : `cannot decompress the request: ${(err as Error).message}`);
  }
}

