// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 + the 3.1 session flow control), only what
// Kubernetes streaming needs. Every frame has an 8-byte header:
//   control: |1| version(15)=3 | type(16) | flags(8) | length(24) | payload
//   data:    |0| stream id(31)            | flags(8) | length(24) | payload
// Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are: count(32), then per pair name-len(32),
// name, value-len(32), value (NUL separates multiple values); zlib-compressed with the spec's
// dictionary, one compression context per direction for the whole session.
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { BerthError } from '../../common/index.js';

export const SPDY_VERSION = 3;
export const FrameType = {
  SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9,
} as const;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const RST_PROTOCOL_ERROR = 1;
export const RST_INVALID_STREAM = 2;
export const RST_REFUSED_STREAM = 3;
export const RST_CANCEL = 5;
export const RST_FLOW_CONTROL_ERROR = 7;
export const SETTINGS_INITIAL_WINDOW_SIZE = 7;
export const DEFAULT_WINDOW = 64 * 1024;
/** Largest control frame payload accepted from a peer: kubectl's header blocks are tens of bytes,
 *  and a control frame is held whole before it is handled. DATA frames of any length stream. */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;
/** Largest header block after inflation; a block that inflates further closes the session. */
export const MAX_HEADER_BLOCK = 64 * 1024;

// The SPDY/3 compression dictionary is a constant of the spec; spdy-transport ships it as data.
// Read on the first SPDY session, not at start-up (the daemon would resolve and read a package).
let dictionary: Buffer | undefined;
function spdyDictionary(): Buffer {
  dictionary ??= (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3]!;
  return dictionary;
}

/**
 * What the parser yields: a whole control frame, or a piece of a DATA frame as its bytes arrive
 * (`first`/`last` mark the frame's bounds, `fin` is set on the last piece of a FIN frame), so a
 * DATA frame never has to be held whole, whatever length it announces.
 */
export type Frame =
  | { control: true; type: number; flags: number; payload: Buffer }
  | { control: false; streamId: number; data: Buffer; first: boolean; last: boolean; fin: boolean };

export function encodeControl(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

export function encodeData(streamId: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((flags & 0xff) << 24 | data.length) >>> 0, 4);
  return Buffer.concat([head, data]);
}

const u32 = (...values: number[]) => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
};

export const encodeRst = (streamId: number, status: number) => encodeControl(FrameType.RST_STREAM, 0, u32(streamId & 0x7fffffff, status));
export const encodeWindowUpdate = (streamId: number, delta: number) => encodeControl(FrameType.WINDOW_UPDATE, 0, u32(streamId & 0x7fffffff, delta & 0x7fffffff));
export const encodePing = (id: number) => encodeControl(FrameType.PING, 0, u32(id));
export const encodeGoaway = (lastGoodStreamId: number, status: number) => encodeControl(FrameType.GOAWAY, 0, u32(lastGoodStreamId & 0x7fffffff, status));

/** SYN_STREAM payload: stream id, associated stream id, priority(3 bits)+unused, slot, block. */
export function synStreamPayload(streamId: number, priority: number, compressedBlock: Buffer): Buffer {
  return Buffer.concat([u32(streamId & 0x7fffffff, 0), Buffer.of((priority & 7) << 5, 0), compressedBlock]);
}

/** SYN_REPLY and HEADERS payload: stream id, block. */
export function streamBlockPayload(streamId: number, compressedBlock: Buffer): Buffer {
  return Buffer.concat([u32(streamId & 0x7fffffff), compressedBlock]);
}

export function encodeHeaderBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [u32(Object.keys(headers).length)];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(value);
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Names are lower-cased; repeated or NUL-joined values are joined with ', '. */
export function decodeHeaderBlock(block: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const bad = () => new BerthError('invalid-argument', 'spdy: malformed header block');
  if (block.length < 4) throw bad();
  const count = block.readUInt32BE(0);
  let off = 4;
  const take = () => {
    if (off + 4 > block.length) throw bad();
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) throw bad();
    const s = block.subarray(off, off + len).toString();
    off += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = take().toLowerCase();
    const value = take().split('\0').join(', ');
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** Incremental frame parser: feed socket bytes with `push`, take frames with `next`. */
export class FrameParser {
  #buf: Buffer = Buffer.alloc(0);
  #data: { streamId: number; left: number; fin: boolean; first: boolean } | undefined;

  /** Bytes received and not yet handed out (at most one control frame and one socket read). */
  get buffered(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** The next frame (or DATA piece) the bytes so far complete; throws on a frame we refuse. */
  next(): Frame | undefined {
    if (this.#data) return this.#dataPiece(this.#data);
    if (this.#buf.length < 8) return undefined;
    const word = this.#buf.readUInt32BE(0);
    const flags = this.#buf[4]!;
    const length = this.#buf.readUInt32BE(4) & 0xffffff;
    if ((word & 0x80000000) === 0) {
      this.#data = { streamId: word & 0x7fffffff, left: length, fin: (flags & FLAG_FIN) !== 0, first: true };
      this.#buf = this.#buf.subarray(8);
      return this.#dataPiece(this.#data);
    }
    const version = (word >>> 16) & 0x7fff;
    if (version !== SPDY_VERSION) throw new BerthError('invalid-argument', `spdy: unsupported version ${version}`);
    if (length > MAX_CONTROL_PAYLOAD) throw new BerthError('resource-exhausted', `spdy: control frame of ${length} bytes is too large`);
    if (this.#buf.length < 8 + length) return undefined;
    const payload = this.#buf.subarray(8, 8 + length);
    this.#buf = this.#buf.subarray(8 + length);
    return { control: true, type: word & 0xffff, flags, payload };
  }

  /** Every frame the bytes so far complete. */
  drain(): Frame[] {
    const out: Frame[] = [];
    for (let f = this.next(); f; f = this.next()) out.push(f);
    return out;
  }

  #dataPiece(d: { streamId: number; left: number; fin: boolean; first: boolean }): Frame | undefined {
    if (d.left > 0 && this.#buf.length === 0) return undefined;
    const n = Math.min(d.left, this.#buf.length);
    const data = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    d.left -= n;
    const first = d.first;
    d.first = false;
    const last = d.left === 0;
    if (last) this.#data = undefined;
    return { control: false, streamId: d.streamId, data, first, last, fin: last && d.fin };
  }
}

/**
 * One zlib context (deflate or inflate) for a session direction; calls are serialized. Output
 * is counted as zlib produces it: past `limit` the context is broken for good (the session must
 * close, the peer's compression state is lost) and later output is dropped, never gathered.
 */
class ZlibContext {
  readonly #z: zlib.Deflate | zlib.Inflate;
  #tail: Promise<unknown> = Promise.resolve();
  #run: { parts: Buffer[]; bytes: number; fail: (err: Error) => void } | undefined;
  #broken: Error | undefined;

  constructor(z: zlib.Deflate | zlib.Inflate, limit: number) {
    this.#z = z;
    z.on('data', (c: Buffer) => {
      const run = this.#run;
      if (!run || this.#broken) return;
      run.bytes += c.length;
      if (run.bytes > limit) this.#break(new BerthError('resource-exhausted', `spdy: header block inflates past ${limit} bytes`));
      else run.parts.push(c);
    });
    z.on('error', (err) => this.#break(new BerthError('invalid-argument', `spdy: header compression: ${err.message}`)));
  }

  // Not destroyed here: this runs inside zlib's own output callback. The session closes the
  // codec once the rejection reached it.
  #break(err: Error): void {
    if (this.#broken) return;
    this.#broken = err;
    this.#run?.fail(err);
  }

  run(input: Buffer): Promise<Buffer> {
    const next = this.#tail.then(() => new Promise<Buffer>((resolve, reject) => {
      if (this.#broken) { reject(this.#broken); return; }
      const run = { parts: [] as Buffer[], bytes: 0, fail: reject };
      this.#run = run;
      this.#z.write(input);
      this.#z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.#run = undefined;
        if (this.#broken) reject(this.#broken);
        else if (this.#z.destroyed) reject(new BerthError('unavailable', 'spdy: header codec closed'));
        else resolve(Buffer.concat(run.parts, run.bytes));
      });
    }));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.#run?.fail(new BerthError('unavailable', 'spdy: header codec closed'));
    this.#run = undefined;
    this.#z.close();
  }
}

/** Header compression for one session: `compress` for what we send, `decompress` for what we get. */
export class HeaderCodec {
  readonly #deflate = new ZlibContext(zlib.createDeflate({ dictionary: spdyDictionary() }), Infinity);
  readonly #inflate = new ZlibContext(zlib.createInflate({ dictionary: spdyDictionary() }), MAX_HEADER_BLOCK);

  async compress(headers: Record<string, string>): Promise<Buffer> {
    return this.#deflate.run(encodeHeaderBlock(headers));
  }
  async decompress(block: Buffer): Promise<Record<string, string>> {
    if (block.length === 0) return {};
    return decodeHeaderBlock(await this.#inflate.run(block));
  }
  close(): void {
    this.#deflate.close();
    this.#inflate.close();
  }
}
