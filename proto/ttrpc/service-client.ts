// A typed client for one service, built from its method table:
//   const task = createServiceClient(client, 'containerd.task.v2.Task', taskServiceMethods);
//   const { pid } = await task.Create(req, { timeoutMs: 10_000 });
import { InternalError } from '../../common/index.js';
import type { CallOptions, TtrpcClient } from './client.js';
import type { MethodTable, RequestOf, ResponseOf } from './service.js';

export type ServiceClient<T extends MethodTable> = {
  [K in keyof T]: (req: RequestOf<T[K]>, opts?: CallOptions) => Promise<ResponseOf<T[K]>>;
};

export function createServiceClient<T extends MethodTable>(
  client: TtrpcClient,
  serviceName: string,
  methods: T,
): ServiceClient<T> {
  const out: Record<string, (req: unknown, opts?: CallOptions) => Promise<unknown>> = {};
  for (const [name, desc] of Object.entries(methods)) {
    // Not an async function: one would keep the encoded request (a view into a Buffer pool slab)
    // in its suspended frame until the reply, and a Wait's reply comes when its task exits
    // (docs/bench.md "Daemon memory").
    out[name] = (req, opts) => {
      let reply: Promise<Uint8Array>;
      try {
        reply = client.call(serviceName, name, desc.requestType.encode(req).finish(), opts);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      return reply.then((bytes) => {
        try {
          return desc.responseType.decode(bytes);
        } catch (err) {
          throw new InternalError(`ttrpc: ${serviceName}/${name}: cannot decode reply: ${String(err)}`, { cause: err });
        }
      });
    };
  }
  return out as ServiceClient<T>;
}
