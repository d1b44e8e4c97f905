// A CRI runtime handler as the task manager needs it: the runtime name (or its configured shim
// path) and the runc options to hand the shim.
import type { runtime as cri } from '../../proto/cri.js';
import type { RuncOptions } from '../../taskmanager/index.js';
import { isRuncLikeRuntime, resolveRuntime, type BerthConfig, type ResolvedRuntime } from '../config/index.js';
import { readHostInfo, type HostInfo } from '../oci/index.js';

export interface TaskRuntime {
  readonly handler: ResolvedRuntime;
  /** What TaskManager.createTask takes: the shim path when configured, else the runtime type. */
  readonly runtime: string;
  readonly options?: RuncOptions;
}

export function taskRuntime(config: BerthConfig, handler: string): TaskRuntime {
  const r = resolveRuntime(config, handler);
  const runtime = r.runtimePath !== '' ? r.runtimePath : r.runtimeType;
  if (!isRuncLikeRuntime(r.runtimeType)) return { handler: r, runtime };
  const set = Object.entries(r.options).filter(([, v]) => v !== '' && v !== 0 && v !== false);
  return { handler: r, runtime, ...(set.length > 0 ? { options: Object.fromEntries(set) as RuncOptions } : {}) };
}

let host: HostInfo | undefined;
/** The host facts the OCI spec builder reads (capabilities, devices, ...), read once. */
export function hostInfo(): HostInfo {
  host ??= readHostInfo();
  return host;
}

/**
 * A handler's features as Status reports them and CreateContainer holds it to: recursive
 * read-only mounts where the handler runs runc (berth stages the read-only tree itself, so runc
 * 1.1 does too: cri/runtime/rro-mounts.ts) and the kernel has mount_setattr(2); user namespaces
 * are not done here (docs/cri.md "Runtime handler features").
 */
export function handlerFeatures(runtimeType: string, host: Pick<HostInfo, 'recursiveReadOnlyMounts'> = hostInfo()): cri.v1.IRuntimeHandlerFeatures {
  return { recursiveReadOnlyMounts: isRuncLikeRuntime(runtimeType) && host.recursiveReadOnlyMounts, userNamespaces: false };
}
