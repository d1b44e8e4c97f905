// HPACK (RFC 7541) as berth's gRPC server needs it (docs/grpc.md): request header blocks are
// decoded with the client's dynamic table (hpack.js's decoder primitives and table); response
// header blocks are written with the static table and literals that never enter a table, so the
// server keeps no encoder state and the few blocks it sends are built from constant bytes.
import hpack from 'hpack.js';
import { ConnectionError, H2Error } from './frames.js';

/** SETTINGS_HEADER_TABLE_SIZE both sides use unless a SETTINGS frame changes it (RFC 9113 §6.5.2). */
export const TABLE_SIZE = 4096;

export interface HeaderField {
  readonly name: string;
  readonly value: string;
}

/**
 * Decodes one client's header blocks in order (its HPACK dynamic table lives here). hpack.js's
 * stream-based Decompressor costs ~80 µs to set up, so its primitives are driven directly.
 */
export class BlockDecoder {
  readonly #table = hpack.table.create({ maxSize: TABLE_SIZE });

  decode(block: Buffer, maxListSize: number): HeaderField[] {
    const d = hpack.decoder.create();
    d.push(block);
    const fields: HeaderField[] = [];
    let listSize = 0;
    try {
      while (!d.isEmpty()) {
        if (d.decodeBit()) { // indexed (RFC 7541 §6.1)
          const e = this.#table.lookup(d.decodeInt());
          fields.push({ name: e.name, value: e.value });
          listSize += e.name.length + e.value.length + 32;
        } else {
          const incremental = d.decodeBit() === 1;
          if (!incremental) {
            if (d.decodeBit()) { // dynamic table size update (RFC 7541 §6.3)
              const size = d.decodeInt();
              if (size > TABLE_SIZE) throw new Error(`table size update to ${size}, past the ${TABLE_SIZE} allowed`);
              this.#table.updateSize(size);
              continue;
            }
            d.decodeBit(); // never-indexed: berth keeps no table towards anyone else
          }
          const index = d.decodeInt(); // literal (RFC 7541 §6.2), name indexed or new
          let name: string;
          let nameSize: number;
          if (index === 0) {
            const octets = d.decodeStr();
            name = hpack.utils.stringify(octets);
            nameSize = octets.length;
          } else {
            const e = this.#table.lookup(index);
            name = e.name;
            nameSize = e.nameSize;
          }
          const octets = d.decodeStr();
          const value = hpack.utils.stringify(octets);
          if (incremental) this.#table.add(name, value, nameSize, octets.length);
          fields.push({ name, value });
          listSize += nameSize + octets.length + 32;
        }
        if (listSize > maxListSize) throw new Error(`header list larger than ${maxListSize} bytes`);
      }
    } catch (err) {
      // Any failure leaves the shared table unusable: a connection error (RFC 7541 §2.2).
      throw new ConnectionError(H2Error.COMPRESSION_ERROR, `bad header block: ${(err as Error).message}`);
    }
    return fields;
  }
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1), `first` holding the pattern bits. */
function encodeInt(out: number[], first: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
}

function encodeString(out: number[], text: Buffer): void {
  encodeInt(out, 0, 7, text.length); // H = 0: no Huffman
  for (const b of text) out.push(b);
}

/** Static table indexes (RFC 7541 Appendix A). */
const STATIC_STATUS_200 = 8;
const STATIC_CONTENT_TYPE = 31;

/** A literal field without indexing, its name from the static table or spelled out (RFC 7541 §6.2.2). */
export function literal(out: number[], name: number | string, value: string): void {
  if (typeof name === 'number') encodeInt(out, 0x00, 4, name);
  else {
    out.push(0x00);
    encodeString(out, Buffer.from(name, 'latin1'));
  }
  encodeString(out, Buffer.from(value, 'latin1'));
}

function block(build: (out: number[]) => void): Buffer {
  const out: number[] = [];
  build(out);
  return Buffer.from(out);
}

/** `:status: 200`, `content-type: application/grpc`: the head of every gRPC response. */
export const RESPONSE_HEAD = block((out) => {
  encodeInt(out, 0x80, 7, STATIC_STATUS_200);
  literal(out, STATIC_CONTENT_TYPE, 'application/grpc');
});

/** The trailers of a call that succeeded. */
export const TRAILERS_OK = block((out) => literal(out, 'grpc-status', '0'));

/** grpc-message is cut to this many bytes, encoded: a trailer must fit one frame of the smallest size. */
export const MAX_STATUS_MESSAGE = 8 * 1024;

/**
 * grpc-message as the gRPC HTTP/2 protocol spells it: UTF-8, every octet outside 0x20-0x7e and
 * every '%' percent-encoded; cut at `maxBytes` of the encoded form, never inside an escape.
 */
export function percentEncode(message: string, maxBytes = MAX_STATUS_MESSAGE): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    const piece = b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (out.length + piece.length > maxBytes) break;
    out += piece;
  }
  return out;
}

/** The trailers of a failed call; with `head`, a Trailers-Only response (the status alone). */
export function statusBlock(code: number, message: string, head: boolean): Buffer {
  return block((out) => {
    if (head) for (const b of RESPONSE_HEAD) out.push(b);
    literal(out, 'grpc-status', String(code));
    if (message) literal(out, 'grpc-message', percentEncode(message));
  });
}

/** A response that is not gRPC's (RFC 9113 §8.3.2 statuses for a request berth cannot serve). */
export function httpStatusBlock(status: number): Buffer {
  return block((out) => literal(out, 8, String(status)));
}
