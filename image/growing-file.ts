// A download's ingest file read while it is still being written, so a layer unpacks as its bytes
// arrive instead of after the whole blob is in. The writer (ContentStore.write) says how far the
// file is written (after each batch has landed), then that it is final (size and digest verified,
// blob renamed into place) or failed. A reader never reads past what is written and sees its end
// only once the file is final: a layer applied from it is therefore never committed from bytes
// that were not verified, and a failed download fails the apply that follows it.
import type fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InternalError } from '../common/index.js';
import { fdReader, readerStream, type ChunkReader } from './chunk-reader.js';

export interface GrowthState {
  /** Bytes written and readable. */
  readonly size: number;
  /** No more bytes will come: the blob is verified and committed. */
  readonly final: boolean;
}

/** What a reader waits on (the writer's GrowingFile, or its mirror on the unpack worker). */
export interface GrowthSource {
  /** Resolves once more than `offset` bytes are written or the file is final; rejects when the writer failed. */
  waitBeyond(offset: number): Promise<GrowthState>;
}

/** The growth of a file as a reader sees it; fed by grew/finished/failed. */
export class Growth implements GrowthSource {
  #state: GrowthState = { size: 0, final: false };
  #error: Error | undefined;
  #wake: (() => void)[] = [];
  readonly #listeners = new Set<(s: GrowthState | Error) => void>();

  get state(): GrowthState {
    return this.#state;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  grew(size: number): void {
    if (this.#done() || size <= this.#state.size) return;
    this.#set({ size, final: false });
  }

  finished(size: number): void {
    if (this.#done()) return;
    this.#set({ size, final: true });
  }

  failed(err: Error): void {
    if (this.#done()) return;
    this.#error = err;
    this.#notify(err);
  }

  /** Calls `fn` with the current state now and with each change; returns the unsubscribe. */
  subscribe(fn: (s: GrowthState | Error) => void): () => void {
    fn(this.#error ?? this.#state);
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async waitBeyond(offset: number): Promise<GrowthState> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#state.final || this.#state.size > offset) return this.#state;
      await new Promise<void>((r) => this.#wake.push(r));
    }
  }

  #done(): boolean {
    return this.#error !== undefined || this.#state.final;
  }

  #set(s: GrowthState): void {
    this.#state = s;
    this.#notify(s);
  }

  #notify(s: GrowthState | Error): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
    for (const l of this.#listeners) l(s);
  }
}

/**
 * The writer's side: a Growth plus the read handle of the ingest file, opened by the content
 * store right after it created the file (so a rename or unlink later does not matter). The
 * owner closes it once no reader uses it.
 */
export class GrowingFile extends Growth {
  #handle: fs.FileHandle | undefined;
  #closed = false;
  #attached!: () => void;
  /** Resolves when the content store has attached the ingest file. */
  readonly attached = new Promise<void>((r) => { this.#attached = r; });

  /** The read fd, once attached. */
  get fd(): number | undefined {
    return this.#handle?.fd;
  }

  attach(handle: fs.FileHandle): boolean {
    if (this.#handle || this.#closed) return false;
    this.#handle = handle;
    this.#attached();
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const h = this.#handle;
    this.#handle = undefined;
    await h?.close();
  }
}

/** Reads fd `fd` from offset 0 as `growth` allows (positional reads; the fd stays open). */
export function growingReader(fd: number, growth: GrowthSource): ChunkReader {
  return fdReader(fd, async (pos) => {
    const { size, final } = await growth.waitBeyond(pos);
    if (pos < size) return size - pos;
    if (final) return 0;
    throw new InternalError('growing file: woken without new bytes');
  });
}

/** growingReader as a Readable of fresh buffers. */
export function readGrowing(fd: number, growth: GrowthSource): Readable {
  return readerStream(growingReader(fd, growth));
}
