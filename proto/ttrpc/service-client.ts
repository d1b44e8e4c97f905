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
    out[name] = async (req, opts) => {
      const payload = desc.requestType.encode(req).finish();
      const reply = await client.call(serviceName, name, payload, opts);
      try {
        return desc.responseType.decode(reply);
      } catch (err) {
        throw new InternalError(`ttrpc: ${serviceName}/${name}: cannot decode reply: ${String(err)}`, { cause: err });
      }
    };
  }
  return out as ServiceClient<T>;
}
