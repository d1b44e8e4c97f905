// Header blocks of a client whose `:authority` Node's HTTP/2 server would refuse (docs/clients.md):
// decode with the client's HPACK table, put a valid authority in place, encode with a table of
// our own towards the server. Uses hpack.js (RFC 7541).
import hpack, { type Compressor, type HeaderField } from 'hpack.js';

/** SETTINGS_HEADER_TABLE_SIZE both sides use unless a SETTINGS frame changes it (RFC 9113 §6.5.2). */
const TABLE_SIZE = 4096;

// What nghttp2 (inside Node's HTTP/2 server) accepts in `:authority`: RFC 3986's unreserved and
// sub-delims characters, ':', '@', '[', ']' and '%'. Anything else resets the stream.
const AUTHORITY_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

export function isValidAuthority(value: string): boolean {
  return AUTHORITY_OK.test(value);
}

/**
 * The authority with every character nghttp2 refuses replaced by `_`: `/run/berth/berth.sock`
 * becomes `_run_berth_berth.sock`. berth's handlers never read the authority.
 */
export function sanitizeAuthority(value: string): string {
  return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]/g, '_');
}

export function authorityOf(fields: readonly HeaderField[]): string | undefined {
  return fields.find((f) => f.name === ':authority')?.value;
}

/**
 * Decodes one client's header blocks in order (its HPACK dynamic table lives here), with
 * hpack.js's decoder primitives: its stream-based Decompressor costs ~80 µs to set up, which
 * every connection would pay in the gate.
 */
export class BlockDecoder {
  readonly #table = hpack.table.create({ maxSize: TABLE_SIZE });

  decode(block: Buffer): HeaderField[] {
    const d = hpack.decoder.create();
    d.push(block);
    const fields: HeaderField[] = [];
    try {
      while (!d.isEmpty()) {
        if (d.decodeBit()) { // indexed (RFC 7541 §6.1)
          const e = this.#table.lookup(d.decodeInt());
          fields.push({ name: e.name, value: e.value, neverIndex: false });
          continue;
        }
        const incremental = d.decodeBit() === 1;
        let neverIndex = false;
        if (!incremental) {
          if (d.decodeBit()) { // dynamic table size update (RFC 7541 §6.3)
            this.#table.updateSize(d.decodeInt());
            continue;
          }
          neverIndex = d.decodeBit() === 1;
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
        const value = d.decodeStr();
        const text = hpack.utils.stringify(value);
        if (incremental) this.#table.add(name, text, nameSize, value.length);
        fields.push({ name, value: text, neverIndex });
      }
    } catch (err) {
      throw new Error(`bad header block: ${(err as Error).message}`, { cause: err });
    }
    return fields;
  }
}

/** Encodes header blocks towards the server (the table the server decodes with lives here). */
export class BlockEncoder {
  readonly #c: Compressor = hpack.compressor.create({ table: { maxSize: TABLE_SIZE } });

  encode(fields: readonly HeaderField[]): Buffer {
    this.#c.write(fields.map((f) => ({ name: f.name, value: f.value, neverIndex: f.neverIndex === true, huffman: f.neverIndex !== true })));
    return this.#c.read() ?? Buffer.alloc(0);
  }
}

/** The fields with a refused `:authority` made valid; the same array when nothing changes. */
export function withValidAuthority(fields: HeaderField[]): HeaderField[] {
  const refused = (f: HeaderField) => f.name === ':authority' && !isValidAuthority(f.value);
  if (!fields.some(refused)) return fields;
  return fields.map((f) => (refused(f) ? { ...f, value: sanitizeAuthority(f.value) } : f));
}
