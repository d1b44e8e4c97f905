// The Stream* list calls (KEP-5825; kubelet uses them with the CRIListStreaming gate and falls back
// to the ListX call on UNIMPLEMENTED): each answers what its ListX handler answers, with the same
// filter, cut into messages of at most STREAM_CHUNK_BYTES (proto/list-chunks.ts), then EOF. A
// Stream* whose ListX berth does not implement answers UNIMPLEMENTED too, so kubelet's fallback
// finds the same answer. Written with backpressure: the next message is built once the last drained.
import { UnimplementedError, toStatus, type Logger } from '../common/index.js';
import { LIST_STREAMS, STREAM_CHUNK_BYTES, encodeListChunks } from '../proto/cri-wire.js';
import type { ServerStream } from './grpc/index.js';

type Call = ServerStream;
type ListHandlers = Record<string, ((req: unknown) => unknown) | undefined>;

/** Ends a server stream with the gRPC status of `err`. */
export function failStream(call: Call, err: unknown): void {
  call.fail(toStatus(err));
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
          if (call.closed) return;
          messages++;
          if (!call.write(chunk)) await call.drained();
        }
        if (call.closed) return;
        call.end();
        log.debug({ method: name, messages, ms: Date.now() - started }, 'CRI call done');
      })().catch((err: unknown) => {
        const s = toStatus(err);
        log.warn({ method: name, code: s.code, err, ms: Date.now() - started }, 'CRI call failed');
        failStream(call, err);
      });
    };
  }
  return out;
}
