// The KEP-5825 Stream* replies (StreamContainers, StreamPodSandboxes, StreamImages, ...): a list
// kubelet would get in one ListX reply, sent as several messages of one repeated field (number 1
// in each Stream*Response), none larger than a byte budget, so a node with tens of thousands of
// containers is not cut off by the client's 16 MiB message limit. Each item is encoded once
// (frozen ones are cached, proto/encode-cache.ts) and the messages are built from those bytes.
import { encodedMessage, type Encoder } from './encode-cache.js';

/**
 * Bytes per Stream* message: a quarter of the 16 MiB kubelet accepts (cri-client's default), so a
 * message stays well under it; ~4,000 containers of 1 KiB each (containerd sends 5,000 items).
 */
export const STREAM_CHUNK_BYTES = 4 * 1024 * 1024;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/**
 * The encoded messages of `items` as field `field` (repeated, of type `item`) of a reply: each at
 * most `maxBytes` unless one item alone is larger (it then goes alone), every item in exactly one
 * message, in order; none for an empty list. Lazy: one message is built per step.
 */
export function* encodeListChunks(item: Encoder, items: readonly object[], maxBytes = STREAM_CHUNK_BYTES, field = 1): Generator<Buffer> {
  const tag = ((field << 3) | 2) >>> 0;
  const tagLength = varintLength(tag);
  let parts: Uint8Array[] = [];
  let size = 0;
  const flush = (): Buffer => {
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (const p of parts) {
      at = writeVarint(out, at, tag);
      at = writeVarint(out, at, p.length);
      out.set(p, at);
      at += p.length;
    }
    parts = [];
    size = 0;
    return out;
  };
  for (const it of items) {
    const bytes = encodedMessage(item, it);
    const entry = tagLength + varintLength(bytes.length) + bytes.length;
    if (parts.length > 0 && size + entry > maxBytes) yield flush();
    parts.push(bytes);
    size += entry;
  }
  if (parts.length > 0) yield flush();
}
