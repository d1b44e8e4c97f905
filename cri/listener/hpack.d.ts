// The part of hpack.js (RFC 7541 header compression) the CRI listener uses.
declare module 'hpack.js' {
  export interface HeaderField { name: string; value: string; neverIndex?: boolean; huffman?: boolean }
  interface TableOptions { table: { maxSize: number } }
  export interface Decompressor {
    write(chunk: Buffer): boolean;
    execute(): void;
    read(): HeaderField | null;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  export interface Compressor {
    write(headers: HeaderField[]): boolean;
    read(): Buffer | null;
  }
  export const decompressor: { create(options: TableOptions): Decompressor };
  export const compressor: { create(options: TableOptions): Compressor };
}
