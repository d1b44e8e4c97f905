// The part of hpack.js (RFC 7541 header compression) berth's gRPC server uses (cri/grpc/hpack.ts):
// the primitives of its decoder (bit/integer/string reads) and its indexing table, without streams.
declare module 'hpack.js' {
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
  export const decoder: { create(): Decoder };
  export const table: { create(options: { maxSize: number }): Table };
  export const utils: { stringify(octets: number[]): string };
}
