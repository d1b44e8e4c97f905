// ttrpc v1.1.1 framing: a 10-byte big-endian header (payload length, stream id, type, flags)
// followed by the payload. The decoder accepts bytes in any chunking: a frame split across
// reads, several frames in one read, and oversized payloads it must skip without buffering.
import { ResourceExhaustedError } from './errors.js';

export const HEADER_LENGTH = 10;
/** Largest payload either side accepts: 4 MiB, as in ttrpc v1.1.1 (`4 << 20`). */
export const MAX_MESSAGE_SIZE = 4 << 20;

export const FrameType = {
  REQUEST: 0x01,
  RESPONSE: 0x02,
} as const;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/** A whole frame, or the header of one whose payload was too large and was discarded. */
export type DecodedFrame =
  | { kind: 'frame'; streamId: number; type: number; flags: number; payload: Buffer }
  | { kind: 'oversized'; streamId: number; type: number; flags: number; length: number };

export function oversizeMessage(length: number): string {
  return `message length ${length} exceed maximum message size of ${MAX_MESSAGE_SIZE}`;
}

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH);
  b.writeUInt32BE(h.length >>> 0, 0);
  b.writeUInt32BE(h.streamId >>> 0, 4);
  b.writeUInt8(h.type & 0xff, 8);
  b.writeUInt8(h.flags & 0xff, 9);
  return b;
}

/** Header + payload in one buffer, so a single write puts a whole frame on the socket. */
export function encodeFrame(streamId: number, type: number, payload: Uint8Array, flags = 0): Buffer {
  if (payload.length > MAX_MESSAGE_SIZE) {
    throw new ResourceExhaustedError(oversizeMessage(payload.length));
  }
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  encodeHeader({ length: payload.length, streamId, type, flags }).copy(out, 0);
  out.set(payload, HEADER_LENGTH);
  return out;
}

function decodeHeader(b: Buffer, offset = 0): FrameHeader {
  return {
    length: b.readUInt32BE(offset),
    streamId: b.readUInt32BE(offset + 4),
    type: b.readUInt8(offset + 8),
    flags: b.readUInt8(offset + 9),
  };
}

/**
 * Streaming decoder. `push` every chunk read from the socket; it returns the frames completed
 * by that chunk, in order. Payloads over `maxSize` are skipped as they arrive (never held in
 * memory) and reported once fully skipped, as the Go receiver does after discarding them.
 */
export class FrameDecoder {
  readonly #maxSize: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: FrameHeader | undefined;
  #discardLeft = 0;

  constructor(maxSize = MAX_MESSAGE_SIZE) {
    this.#maxSize = maxSize;
  }

  /** Bytes held for an incomplete frame (0 between frames). */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let data = chunk;
    while (data.length > 0) {
      if (this.#header && this.#discardLeft > 0) {
        const n = Math.min(this.#discardLeft, data.length);
        this.#discardLeft -= n;
        data = data.subarray(n);
        if (this.#discardLeft === 0) {
          const h = this.#header;
          this.#header = undefined;
          out.push({ kind: 'oversized', streamId: h.streamId, type: h.type, flags: h.flags, length: h.length });
        }
        continue;
      }
      const need = this.#header ? this.#header.length : HEADER_LENGTH;
      const missing = need - this.#buffered;
      const take = Math.min(missing, data.length);
      this.#chunks.push(data.subarray(0, take));
      this.#buffered += take;
      data = data.subarray(take);
      if (this.#buffered < need) break;
      const whole = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
      if (!this.#header) {
        const h = decodeHeader(whole);
        if (h.length > this.#maxSize) {
          this.#header = h;
          this.#discardLeft = h.length;
        } else if (h.length === 0) {
          out.push({ kind: 'frame', streamId: h.streamId, type: h.type, flags: h.flags, payload: Buffer.alloc(0) });
        } else {
          this.#header = h;
        }
      } else {
        const h = this.#header;
        this.#header = undefined;
        // Copy so the payload does not pin the (possibly large) read buffer it came from.
        out.push({ kind: 'frame', streamId: h.streamId, type: h.type, flags: h.flags, payload: Buffer.from(whole) });
      }
    }
    return out;
  }
}
