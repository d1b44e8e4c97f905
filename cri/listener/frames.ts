// HTTP/2 framing as the CRI listener needs it (RFC 9113 §4, §6): reading frames from a client's
// byte stream and writing the few frames it sends or rebuilds. docs/clients.md says why.

/** The 24 octets every HTTP/2 client sends first. */
const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_LENGTH = 9;

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { ACK: 0x1, END_STREAM: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** The largest frame payload a peer must accept before SETTINGS_MAX_FRAME_SIZE raises it. */
const DEFAULT_MAX_FRAME_SIZE = 16_384;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
  /** The whole frame as received, header included. */
  readonly raw: Buffer;
}

/**
 * Cuts a byte stream into frames. `push` takes the next chunk; `next` returns a whole frame or
 * undefined until more bytes arrive. With `expectPreface`, `preface` must first consume the
 * client preface.
 */
export class FrameReader {
  #buf: Buffer = Buffer.alloc(0);
  #prefacePending: boolean;

  constructor(opts: { expectPreface: boolean }) {
    this.#prefacePending = opts.expectPreface;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** The preface if it is complete and still unread ('bad' when the bytes are not a preface). */
  preface(): Buffer | 'bad' | undefined {
    if (!this.#prefacePending) return undefined;
    const n = Math.min(this.#buf.length, CLIENT_PREFACE.length);
    if (!this.#buf.subarray(0, n).equals(CLIENT_PREFACE.subarray(0, n))) return 'bad';
    if (n < CLIENT_PREFACE.length) return undefined;
    this.#prefacePending = false;
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  next(): Frame | undefined {
    if (this.#prefacePending || this.#buf.length < FRAME_HEADER_LENGTH) return undefined;
    const length = this.#buf.readUIntBE(0, 3);
    const total = FRAME_HEADER_LENGTH + length;
    if (this.#buf.length < total) return undefined;
    const raw = this.#buf.subarray(0, total);
    this.#buf = this.#buf.subarray(total);
    return { type: raw[3]!, flags: raw[4]!, streamId: raw.readUInt32BE(5) & 0x7fffffff, payload: raw.subarray(FRAME_HEADER_LENGTH), raw };
  }

  /** Whatever is left unparsed (a partial frame). */
  rest(): Buffer {
    const out = this.#buf;
    this.#buf = Buffer.alloc(0);
    return out;
  }
}

function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_LENGTH);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return payload.length === 0 ? head : Buffer.concat([head, payload]);
}

/** An empty SETTINGS frame: a valid server connection preface that changes no setting. */
export const EMPTY_SETTINGS = encodeFrame(FrameType.SETTINGS, 0, 0);

export function isSettingsAck(f: Frame): boolean {
  return f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0 && f.payload.length === 0 && f.streamId === 0;
}

/** The parts of a HEADERS frame's payload: the optional priority fields and the block fragment. */
export function splitHeadersPayload(f: Frame): { priority?: Buffer; fragment: Buffer } {
  let p = f.payload;
  let padding = 0;
  if (f.flags & Flag.PADDED) {
    if (p.length < 1) throw new Error('HEADERS frame too short for its pad length');
    padding = p[0]!;
    p = p.subarray(1);
  }
  let priority: Buffer | undefined;
  if (f.flags & Flag.PRIORITY) {
    if (p.length < 5) throw new Error('HEADERS frame too short for its priority');
    priority = p.subarray(0, 5);
    p = p.subarray(5);
  }
  if (padding > p.length) throw new Error('HEADERS frame padding exceeds its payload');
  return { ...(priority ? { priority } : {}), fragment: p.subarray(0, p.length - padding) };
}

/**
 * A header block as HEADERS + CONTINUATION frames of at most `maxFrameSize` payload each, no
 * padding; END_STREAM and the priority fields are kept from the original HEADERS frame.
 */
export function encodeHeaderBlock(streamId: number, block: Buffer, endStream: boolean, priority: Buffer | undefined, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer[] {
  const out: Buffer[] = [];
  const head = priority ? maxFrameSize - priority.length : maxFrameSize;
  const first = block.subarray(0, head);
  let rest = block.subarray(first.length);
  let flags = (endStream ? Flag.END_STREAM : 0) | (priority ? Flag.PRIORITY : 0) | (rest.length === 0 ? Flag.END_HEADERS : 0);
  out.push(encodeFrame(FrameType.HEADERS, flags, streamId, priority ? Buffer.concat([priority, first]) : first));
  while (rest.length > 0) {
    const part = rest.subarray(0, maxFrameSize);
    rest = rest.subarray(part.length);
    flags = rest.length === 0 ? Flag.END_HEADERS : 0;
    out.push(encodeFrame(FrameType.CONTINUATION, flags, streamId, part));
  }
  return out;
}
