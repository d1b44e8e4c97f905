// A CRI runtime handler as the task manager needs it: the runtime name (or its configured shim
// path) and the runc options to hand the shim.
import type { runtime as cri } from '../../proto/cri-wire.js';
import type { RuncOptions } from '../../taskmanager/index.js';
import { isRuncLikeRuntime, resolveRuntime, type BerthConfig, type ResolvedRuntime } from '../config/index.js';
import type { Logger } from '../../common/index.js';
import { ensureDefaultApparmorProfile, readHostInfo, type HostInfo } from '../oci/index.js';

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

let hostFacts: HostInfo | undefined;
type HostKeys = Pick<BerthConfig, 'disableApparmor' | 'disableHugetlbController' | 'tolerateMissingHugetlbController'>;
/** What the config's host keys make of the host facts (docs/config.md, "Values"). */
export type ConfiguredHost = HostInfo & { readonly hugetlbLimits: 'off' | 'when-present' | 'required' };

/**
 * The host facts the OCI spec builder reads (capabilities, devices, ...), read once, as the
 * config's host keys see them: `disable_apparmor` makes the host one without AppArmor (as in
 * containerd), `disable_hugetlb_controller` drops hugepage limits and
 * `tolerate_missing_hugetlb_controller = false` refuses them where the controller is missing.
 */
export function hostInfo(config: HostKeys): ConfiguredHost {
  const host = (hostFacts ??= readHostInfo());
  const hugetlbLimits = config.disableHugetlbController ? 'off' : config.tolerateMissingHugetlbController ? 'when-present' : 'required';
  return { ...host, apparmorEnabled: host.apparmorEnabled && !config.disableApparmor, hugetlbLimits };
}

/** The load loadHostProfiles scheduled: settles once done; `start` runs it now if not yet begun. */
let profiles: { readonly done: Promise<void>; readonly start: () => void } | undefined;

/**
 * Berth's default AppArmor profile loaded where AppArmor is on (and not turned off by
 * `disable_apparmor`), `afterMs` from now: the daemon schedules it after it serves (reading the
 * host facts loads koffi, ~30 ms a restart need not wait for; cri/daemon.ts). A spec made before
 * then starts it at once and waits for it (hostProfilesLoaded), so no pod is refused for a
 * profile not loaded yet. A failure is logged, not fatal: pods that need the profile then fail
 * with FailedPrecondition, the others run (docs/oci-spec.md).
 */
export function loadHostProfiles(config: HostKeys, log: Pick<Logger, 'info' | 'error'>, afterMs = 0): Promise<void> {
  let run!: () => void;
  const done = new Promise<void>((resolve) => {
    run = () => resolve((async () => {
      const h = hostInfo(config);
      if (!h.apparmorEnabled) return;
      await ensureDefaultApparmorProfile(log, { profilesFile: h.apparmorProfilesFile }).catch((err: unknown) => log.error({ err }, 'berth\'s default AppArmor profile could not be loaded'));
    })());
  });
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    clearTimeout(timer);
    run();
  };
  const timer = setTimeout(start, afterMs);
  timer.unref();
  profiles = { done, start };
  return done;
}

/** Resolves once the load loadHostProfiles scheduled is done, starting it now if it has not begun. */
export function hostProfilesLoaded(): Promise<void> {
  if (!profiles) return Promise.resolve();
  profiles.start();
  return profiles.done;
}

/**
 * A handler's features as Status reports them and CreateContainer holds it to: recursive
 * read-only mounts where the handler runs runc (berth stages the read-only tree itself, so runc
 * 1.1 does too: cri/runtime/rro-mounts.ts) and the kernel has mount_setattr(2); user namespaces
 * under the same handlers, where berth pins the pod's namespace and makes the idmapped mounts
 * itself (docs/cri.md "User namespaces").
 */
export function handlerFeatures(runtimeType: string, host: Pick<HostInfo, 'recursiveReadOnlyMounts'> = (hostFacts ??= readHostInfo())): cri.v1.IRuntimeHandlerFeatures {
  return { recursiveReadOnlyMounts: isRuncLikeRuntime(runtimeType) && host.recursiveReadOnlyMounts, userNamespaces: isRuncLikeRuntime(runtimeType) };
}
