// HTTP/2 framing as berth's gRPC server needs it (RFC 9113 §4, §6): cutting a client's byte
// stream into frames and writing the frames a server sends. docs/grpc.md says why berth frames
// HTTP/2 itself.

/** The 24 octets every HTTP/2 client sends first. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LENGTH = 9;

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { ACK: 0x1, END_STREAM: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const Setting = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;
/** RFC 9113 §7 error codes. */
export const H2Error = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

/** The largest frame payload a peer must accept before SETTINGS_MAX_FRAME_SIZE raises it. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The flow-control window every stream and the connection start with (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 0x7fffffff;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A connection-level error (RFC 9113 §5.4.1): the connection ends with GOAWAY and this code. */
export class ConnectionError extends Error {
  constructor(readonly h2code: number, message: string) {
    super(message);
  }
}

/**
 * Cuts a byte stream into frames. `push` takes the next chunk; `next` returns a whole frame or
 * undefined until more bytes arrive. `preface` must first consume the client preface.
 */
export class FrameReader {
  #buf: Buffer = Buffer.alloc(0);
  #prefacePending: boolean;

  /** `expectPreface` false reads a server's frames (no preface). */
  constructor(readonly maxFrameSize: number, expectPreface = true) {
    this.#prefacePending = expectPreface;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** True once the preface is read, false until it is complete; throws when the bytes are not one. */
  preface(): boolean {
    if (!this.#prefacePending) return true;
    const n = Math.min(this.#buf.length, CLIENT_PREFACE.length);
    if (this.#buf.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
    if (n < CLIENT_PREFACE.length) return false;
    this.#prefacePending = false;
    this.#buf = this.#buf.subarray(n);
    return true;
  }

  next(): Frame | undefined {
    const buf = this.#buf;
    if (buf.length < FRAME_HEADER_LENGTH) return undefined;
    const length = (buf[0]! << 16) | (buf[1]! << 8) | buf[2]!;
    if (length > this.maxFrameSize) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes, past SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`);
    const total = FRAME_HEADER_LENGTH + length;
    if (buf.length < total) return undefined;
    this.#buf = buf.subarray(total);
    return { type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(FRAME_HEADER_LENGTH, total) };
  }
}

/** Writes a frame header at `at` of `out`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, at + 5);
}

export function frame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const n = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + n);
  writeFrameHeader(out, 0, n, type, flags, streamId);
  if (payload) payload.copy(out, FRAME_HEADER_LENGTH);
  return out;
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** The header block fragment of a HEADERS frame: padding and priority fields taken off. */
export function headersFragment(f: Frame): Buffer {
  let p = f.payload;
  let padding = 0;
  if (f.flags & Flag.PADDED) {
    if (p.length < 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS frame too short for its pad length');
    padding = p[0]!;
    p = p.subarray(1);
  }
  if (f.flags & Flag.PRIORITY) {
    if (p.length < 5) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS frame too short for its priority');
    p = p.subarray(5);
  }
  if (padding > p.length) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS frame padding exceeds its payload');
  return p.subarray(0, p.length - padding);
}

/** The data of a DATA frame, padding taken off. */
export function dataPayload(f: Frame): Buffer {
  if (!(f.flags & Flag.PADDED)) return f.payload;
  const p = f.payload;
  if (p.length < 1 || p[0]! > p.length - 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA frame padding exceeds its payload');
  return p.subarray(1, p.length - p[0]!);
}
