// The part of hpack.js (RFC 7541 header compression) the CRI listener uses: the compressor, and
// the primitives of its decoder (bit/integer/string reads, the indexing table) without streams.
declare module 'hpack.js' {
  export interface HeaderField { name: string; value: string; neverIndex?: boolean; huffman?: boolean }
  interface TableOptions { table: { maxSize: number } }
  export interface Compressor {
    write(headers: HeaderField[]): boolean;
    read(): Buffer | null;
  }
  export interface Decoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    /** The string's octets (Huffman-decoded when flagged). */
    decodeStr(): number[];
  }
  export interface Table {
    lookup(index: number): { name: string; value: string; nameSize: number };
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
  }
  export const compressor: { create(options: TableOptions): Compressor };
  export const decoder: { create(): Decoder };
  export const table: { create(options: { maxSize: number }): Table };
  export const utils: { stringify(octets: number[]): string };
}
