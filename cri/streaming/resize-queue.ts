// Terminal size events from the client's resize stream, handed to the backend as an async
// iterable. SPDY delivers a byte stream of concatenated JSON objects ({"Width":80,"Height":24}),
// WebSocket one object per message; both go through `write`. Bad JSON is dropped, never fatal.
import type { TerminalSize } from './types.js';

const MAX_PENDING_BYTES = 4096;

export class ResizeQueue implements AsyncIterable<TerminalSize> {
  #pending: TerminalSize[] = [];
  #waiters: ((r: IteratorResult<TerminalSize>) => void)[] = [];
  #closed = false;
  #text = '';

  /** Feeds raw bytes of the resize stream. */
  write(chunk: Buffer | string): void {
    this.#text += chunk.toString();
    for (;;) {
      const end = objectEnd(this.#text);
      if (end < 0) break;
      const one = this.#text.slice(0, end);
      this.#text = this.#text.slice(end);
      this.#parse(one);
    }
    if (this.#text.length > MAX_PENDING_BYTES) this.#text = '';
  }

  /** Sizes not taken yet collapse to the newest: only the last one matters to a terminal, and a
   *  client sending sizes faster than the backend applies them cannot grow the queue. */
  push(size: TerminalSize): void {
    if (this.#closed) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: size, done: false });
    else this.#pending = [size];
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  #parse(text: string): void {
    try {
      // Go decodes JSON keys case-insensitively; client-node sends {"width","height"}.
      const v = JSON.parse(text) as Record<string, unknown>;
      const width = Number(v.Width ?? v.width);
      const height = Number(v.Height ?? v.height);
      if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0 && width <= 65535 && height <= 65535) {
        this.push({ width, height });
      }
    } catch {
      // a malformed resize event is ignored, like kubelet does
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TerminalSize> {
    return {
      next: () => {
        const size = this.#pending.shift();
        if (size) return Promise.resolve({ value: size, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Index just past the first complete top-level JSON object in `s` (leading junk skipped), or -1. */
function objectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') { depth++; started = true; }
    else if (c === '}' && started) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
