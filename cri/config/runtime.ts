// Runtime handlers: which runtime types take runc options, and CRI handler -> runtime resolution.
import { NotFoundError } from '../../common/index.js';
import type { BerthConfig, ResolvedRuntime } from './types.js';

// Runtime types whose shim reads containerd.runc.v1.Options (berth's shim takes the same).
const RUNC_LIKE = new Set(['io.containerd.runc.v2', 'io.containerd.runc.v1', 'io.containerd.berth.v2']);

export function isRuncLikeRuntime(runtimeType: string): boolean {
  return RUNC_LIKE.has(runtimeType);
}

/** The runtime for a CRI `runtime_handler`; "" means the default runtime. */
export function resolveRuntime(config: BerthConfig, handler: string): ResolvedRuntime {
  const name = handler === '' ? config.containerd.defaultRuntimeName : handler;
  const runtimes = config.containerd.runtimes;
  const runtime = Object.hasOwn(runtimes, name) ? runtimes[name] : undefined;
  if (!runtime) throw new NotFoundError(`no runtime for ${JSON.stringify(name)} is configured`);
  return Object.freeze({ ...runtime, handler: name });
}
