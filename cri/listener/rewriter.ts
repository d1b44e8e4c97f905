// A client connection as the HTTP/2 server reads it, with every header block re-encoded so that
// `:authority` is one nghttp2 accepts (docs/clients.md). Bytes the server writes go to the socket
// untouched; frames other than HEADERS/CONTINUATION pass through as they are.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from '../../common/index.js';
import { encodeHeaderBlock, Flag, FrameReader, FrameType, splitHeadersPayload, type Frame } from './frames.js';
import { BlockDecoder, BlockEncoder, withValidAuthority } from './headers.js';

/** Larger header blocks are refused by the server anyway (grpc-js allows far less metadata). */
const MAX_HEADER_BLOCK = 1024 * 1024;

interface OpenBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly priority: Buffer | undefined;
  readonly fragments: Buffer[];
  size: number;
}

export class AuthorityRewriter extends Duplex {
  readonly #socket: Socket;
  readonly #log: Logger;
  readonly #reader = new FrameReader({ expectPreface: true });
  readonly #decoder = new BlockDecoder();
  readonly #encoder = new BlockEncoder();
  #block: OpenBlock | undefined;

  constructor(socket: Socket, first: Buffer, log: Logger) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#log = log;
    socket.on('data', (chunk: Buffer) => this.#take(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    if (first.length > 0) this.#take(first);
    socket.resume();
  }

  #take(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#reader.push(chunk);
    const out: Buffer[] = [];
    try {
      const preface = this.#reader.preface();
      if (preface === 'bad') throw new Error('not an HTTP/2 client preface');
      if (preface) out.push(preface);
      for (let f = this.#reader.next(); f; f = this.#reader.next()) this.#frame(f, out);
    } catch (err) {
      this.#log.warn({ err }, 'CRI connection: cannot rewrite its header blocks; closing it');
      this.destroy();
      this.#socket.destroy();
      return;
    }
    if (out.length > 0 && !this.push(out.length === 1 ? out[0] : Buffer.concat(out))) this.#socket.pause();
  }

  #frame(f: Frame, out: Buffer[]): void {
    if (f.type === FrameType.HEADERS) {
      if (this.#block) throw new Error('HEADERS inside an open header block');
      const { priority, fragment } = splitHeadersPayload(f);
      this.#block = { streamId: f.streamId, endStream: (f.flags & Flag.END_STREAM) !== 0, priority, fragments: [fragment], size: fragment.length };
    } else if (f.type === FrameType.CONTINUATION) {
      if (!this.#block || this.#block.streamId !== f.streamId) throw new Error('CONTINUATION without its HEADERS');
      this.#block.fragments.push(f.payload);
      this.#block.size += f.payload.length;
    } else {
      if (this.#block) throw new Error('a frame inside an open header block');
      out.push(f.raw);
      return;
    }
    if (this.#block.size > MAX_HEADER_BLOCK) throw new Error(`header block larger than ${MAX_HEADER_BLOCK} bytes`);
    if ((f.flags & Flag.END_HEADERS) === 0) return;
    const b = this.#block;
    this.#block = undefined;
    const fields = withValidAuthority(this.#decoder.decode(Buffer.concat(b.fragments)));
    out.push(...encodeHeaderBlock(b.streamId, this.#encoder.encode(fields), b.endStream, b.priority));
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#socket.destroy();
    cb(err);
  }
}
