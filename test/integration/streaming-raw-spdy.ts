// A raw SPDY/3.1 client for the streaming tests, behaving as Go spdystream does where it matters:
// it never waits for flow-control windows (kubectl and crictl send as fast as the socket takes
// bytes), and it can send frames no well-behaved client would (oversized or over-inflating header
// blocks). Every frame the server sends is parsed and kept. It shares no code with the server
// (framing per the SPDY/3 draft, written again here), so it checks the server, not itself.
import net from 'node:net';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

export const SPDY_DICTIONARY = (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3]!;
export const SYN_STREAM = 1;
export const RST_STREAM = 3;
export const GOAWAY = 7;
/** RST_STREAM status for a stream the server will not take. */
export const REFUSED_STREAM = 3;

export type ReceivedFrame =
  | { control: true; type: number; flags: number; payload: Buffer }
  | { control: false; streamId: number; flags: number; data: Buffer };

/** count(32), then name-len(32) name value-len(32) value per header. */
function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  parts.push(u32(Object.keys(headers).length));
  for (const [k, v] of Object.entries(headers)) {
    const name = Buffer.from(k);
    const value = Buffer.from(v);
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

/** A header block compressed on its own (a fresh zlib stream with the SPDY dictionary). */
export function compressedBlock(headers: Record<string, string>, level = 9): Buffer {
  return zlib.deflateSync(headerBlock(headers), { dictionary: SPDY_DICTIONARY, level });
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

function synStream(id: number, block: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(id, 0);
  return controlFrame(SYN_STREAM, 0, Buffer.concat([fixed, block]));
}

export class RawSpdyClient {
  readonly socket: net.Socket;
  readonly received: ReceivedFrame[] = [];
  readonly #deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  #buf = Buffer.alloc(0);
  readonly #closed: Promise<void>;

  private constructor(socket: net.Socket, rest: Buffer) {
    this.socket = socket;
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (c: Buffer) => this.#take(c));
    socket.on('error', () => undefined);
    this.#take(rest);
    socket.resume();
  }

  /** Upgrades to SPDY/3.1 on `url` with `protocol`; rejects unless the answer is 101. */
  static connect(url: string, protocol: string): Promise<RawSpdyClient> {
    return spdyUpgrade(url, [protocol]).then(({ socket, status, head, rest }) => {
      if (status !== 101) {
        socket.destroy();
        throw new Error(`upgrade answered ${head.split('\r\n')[0]}`);
      }
      return new RawSpdyClient(socket, rest);
    });
  }

  /** Opens stream `id` with `headers`, compressed in this session's zlib context. */
  async open(id: number, headers: Record<string, string>): Promise<void> {
    const parts: Buffer[] = [];
    const onData = (c: Buffer) => parts.push(c);
    this.#deflate.on('data', onData);
    this.#deflate.write(headerBlock(headers));
    await new Promise<void>((r) => this.#deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    this.#deflate.off('data', onData);
    this.socket.write(synStream(id, Buffer.concat(parts)));
  }

  /** Sends a SYN_STREAM whose header block is given as is. */
  synStreamRaw(id: number, block: Buffer): void {
    this.socket.write(synStream(id, block));
  }

  /** One DATA frame; false when the socket asks to wait for 'drain'. */
  data(id: number, bytes: Buffer, fin = false): boolean {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id, 0);
    head.writeUInt32BE((((fin ? 1 : 0) << 24) | bytes.length) >>> 0, 4);
    return this.socket.write(Buffer.concat([head, bytes]));
  }

  /** Control frames of `type` received so far. */
  control(type: number): Array<Extract<ReceivedFrame, { control: true }>> {
    return this.received.filter((f): f is Extract<ReceivedFrame, { control: true }> => f.control && f.type === type);
  }

  /** The bytes received on stream `id`. */
  text(id: number): string {
    return Buffer.concat(this.received.flatMap((f) => (!f.control && f.streamId === id ? [f.data] : []))).toString();
  }

  /** Resolves when the server closed the connection (true) or after `ms` (false). */
  closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.#closed.then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); }),
    ]).finally(() => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.destroy();
    this.#deflate.close();
  }

  #take(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 8) {
      const length = this.#buf.readUInt32BE(4) & 0xffffff;
      if (this.#buf.length < 8 + length) return;
      const word = this.#buf.readUInt32BE(0);
      const flags = this.#buf[4]!;
      const body = this.#buf.subarray(8, 8 + length);
      this.received.push(word & 0x80000000
        ? { control: true, type: word & 0xffff, flags, payload: body }
        : { control: false, streamId: word & 0x7fffffff, flags, data: body });
      this.#buf = this.#buf.subarray(8 + length);
    }
  }
}

export interface SpdyUpgrade {
  socket: net.Socket;
  /** HTTP status of the answer (101 when upgraded). */
  status: number;
  /** The answer's status line and headers. */
  head: string;
  /** Bytes after the answer's headers (the first SPDY frames); the socket is left paused. */
  rest: Buffer;
}

/** Asks for SPDY/3.1 on `url` offering `protocols` (X-Stream-Protocol-Version), as kubectl does. */
export function spdyUpgrade(url: string, protocols: string[]): Promise<SpdyUpgrade> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  socket.write([`POST ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    ...protocols.map((p) => `X-Stream-Protocol-Version: ${p}`), 'Content-Length: 0', '', ''].join('\r\n'));
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const head = buf.subarray(0, end).toString();
      resolve({ socket, status: Number(head.split(' ')[1]), head, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}
