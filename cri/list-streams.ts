// The Stream* list calls (KEP-5825; kubelet uses them with the CRIListStreaming gate and falls back
// to the ListX call on UNIMPLEMENTED): each answers what its ListX handler answers, with the same
// filter, cut into messages of at most STREAM_CHUNK_BYTES (proto/list-chunks.ts), then EOF. A
// Stream* whose ListX berth does not implement answers UNIMPLEMENTED too, so kubelet's fallback
// finds the same answer. Written with backpressure: the next message is built once the last drained.
import type * as grpc from '@grpc/grpc-js';
import { UnimplementedError, toStatus, type Logger } from '../common/index.js';
import { LIST_STREAMS, STREAM_CHUNK_BYTES, encodeListChunks } from '../proto/cri.js';

type Call = grpc.ServerWritableStream<unknown, unknown>;
type ListHandlers = Record<string, ((req: unknown) => unknown) | undefined>;

/**
 * Ends a server stream with the gRPC status of `err`. grpc-js sends a stream's status when the
 * stream ends after an 'error' event; destroy() would close it without any status.
 */
export function failStream(call: Call, err: unknown): void {
  const s = toStatus(err);
  call.emit('error', Object.assign(new Error(s.message), { code: s.code, details: s.message }));
}

/** Resolves when `call` can take more, or is gone (then `call.cancelled` or `call.destroyed`). */
function drained(call: Call): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const [ev, fn] of listeners) call.off(ev, fn);
      resolve();
    };
    const listeners: Array<[string, () => void]> = [['drain', done], ['close', done], ['cancelled', done], ['error', done]];
    for (const [ev, fn] of listeners) call.once(ev, fn);
  });
}

/**
 * The Stream* methods of a method table, each from the ListX handler in `handlers` (awaited
 * first: the daemon serves while it recovers). `maxBytes` bounds each message.
 */
export function listStreams(
  table: object, handlers: object | Promise<object>, log: Logger, maxBytes = STREAM_CHUNK_BYTES,
): Record<string, (call: Call) => void> {
  const out: Record<string, (call: Call) => void> = {};
  for (const [name, spec] of Object.entries(LIST_STREAMS)) {
    if (!Object.hasOwn(table, name)) continue;
    out[name] = (call) => {
      const started = Date.now();
      log.debug({ method: name, request: call.request }, 'CRI call');
      void (async () => {
        const list = ((await handlers) as ListHandlers)[spec.list];
        if (!list) throw new UnimplementedError(`${name}: ${spec.list} is not implemented by berth, so neither is its stream`);
        const reply = (await list(call.request)) as Record<string, readonly object[] | undefined>;
        let messages = 0;
        for (const chunk of encodeListChunks(spec.item, reply[spec.from] ?? [], maxBytes)) {
          if (call.cancelled || call.destroyed) return;
          messages++;
          if (!call.write(chunk)) await drained(call);
        }
        if (call.cancelled || call.destroyed) return;
        call.end();
        log.debug({ method: name, messages, ms: Date.now() - started }, 'CRI call done');
      })().catch((err: unknown) => {
        const s = toStatus(err);
        log.warn({ method: name, code: s.code, err, ms: Date.now() - started }, 'CRI call failed');
        if (!call.cancelled && !call.destroyed) failStream(call, err);
      });
    };
  }
  return out;
}
