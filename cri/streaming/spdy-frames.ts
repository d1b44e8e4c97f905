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
/** Largest frame payload accepted from a peer. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024 - 1;
const MAX_HEADER_BLOCK = 256 * 1024;

// The SPDY/3 compression dictionary is a constant of the spec; spdy-transport ships it as data.
// Read on the first SPDY session, not at start-up (the daemon would resolve and read a package).
let dictionary: Buffer | undefined;
function spdyDictionary(): Buffer {
  dictionary ??= (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3]!;
  return dictionary;
}

export type Frame =
  | { control: false; streamId: number; flags: number; data: Buffer }
  | { control: true; type: number; flags: number; payload: Buffer };

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

/** Incremental frame parser: feed socket bytes, get whole frames. */
export class FrameParser {
  #buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const frames: Frame[] = [];
    while (this.#buf.length >= 8) {
      const word = this.#buf.readUInt32BE(0);
      const flags = this.#buf[4]!;
      const length = this.#buf.readUInt32BE(4) & 0xffffff;
      if (length > MAX_FRAME_PAYLOAD) throw new BerthError('invalid-argument', `spdy: frame of ${length} bytes is too large`);
      if (this.#buf.length < 8 + length) break;
      const body = this.#buf.subarray(8, 8 + length);
      if (word & 0x80000000) {
        const version = (word >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new BerthError('invalid-argument', `spdy: unsupported version ${version}`);
        frames.push({ control: true, type: word & 0xffff, flags, payload: body });
      } else {
        frames.push({ control: false, streamId: word & 0x7fffffff, flags, data: body });
      }
      this.#buf = this.#buf.subarray(8 + length);
    }
    return frames;
  }
}

/** One zlib context (deflate or inflate) for a session direction; calls are serialized. */
class ZlibContext {
  readonly #z: zlib.Deflate | zlib.Inflate;
  #tail: Promise<unknown> = Promise.resolve();
  #out: Buffer[] = [];
  #outBytes = 0;
  #failed: Error | undefined;

  constructor(z: zlib.Deflate | zlib.Inflate) {
    this.#z = z;
    z.on('data', (c: Buffer) => { this.#out.push(c); this.#outBytes += c.length; });
    z.on('error', (err) => { this.#failed = err; });
  }

  run(input: Buffer): Promise<Buffer> {
    const next = this.#tail.then(() => new Promise<Buffer>((resolve, reject) => {
      if (this.#failed) { reject(this.#failed); return; }
      this.#z.write(input);
      this.#z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const out = Buffer.concat(this.#out);
        this.#out = [];
        this.#outBytes = 0;
        if (this.#failed) reject(new BerthError('invalid-argument', `spdy: header compression: ${this.#failed.message}`));
        else if (out.length > MAX_HEADER_BLOCK) reject(new BerthError('invalid-argument', 'spdy: header block too large'));
        else resolve(out);
      });
    }));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  get pendingBytes(): number {
    return this.#outBytes;
  }

  close(): void {
    this.#z.close();
  }
}

/** Header compression for one session: `compress` for what we send, `decompress` for what we get. */
export class HeaderCodec {
  readonly #deflate = new ZlibContext(zlib.createDeflate({ dictionary: spdyDictionary() }));
  readonly #inflate = new ZlibContext(zlib.createInflate({ dictionary: spdyDictionary() }));

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
