// The cgroup metrics inside a shim Stats reply, told apart by their type URL. Their generated
// messages are a module of their own (gen/cgroups.js, not re-exported by proto/index.ts): the
// shim imports this door on its first Stats call, never on its start path.
import { InvalidArgumentError } from '../common/index.js';
import { CGROUPS_V1_METRICS_TYPE_URL, CGROUPS_V2_METRICS_TYPE_URL, decodeMessage, type AnyProps } from './any.js';
import { io } from './gen/cgroups.js';

export { io };

export type CgroupMetrics =
  | { cgroup: 1; metrics: io.containerd.cgroups.v1.Metrics }
  | { cgroup: 2; metrics: io.containerd.cgroups.v2.Metrics };

/** StatsResponse.stats as v1 or v2 metrics; any other type URL is InvalidArgument. */
export function unpackCgroupMetrics(any: AnyProps | null | undefined): CgroupMetrics {
  const value = any?.value ?? new Uint8Array(0);
  switch (any?.type_url) {
    case CGROUPS_V1_METRICS_TYPE_URL:
      return { cgroup: 1, metrics: decodeMessage<io.containerd.cgroups.v1.Metrics>(io.containerd.cgroups.v1.Metrics, value, CGROUPS_V1_METRICS_TYPE_URL) };
    case CGROUPS_V2_METRICS_TYPE_URL:
      return { cgroup: 2, metrics: decodeMessage<io.containerd.cgroups.v2.Metrics>(io.containerd.cgroups.v2.Metrics, value, CGROUPS_V2_METRICS_TYPE_URL) };
    default:
      throw new InvalidArgumentError(`stats: unsupported metrics type "${any?.type_url ?? ''}"`);
  }
}
