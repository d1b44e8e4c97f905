// Version, Status, RuntimeConfig and UpdateRuntimeConfig. NetworkReady is the CNI config state:
// false (NetworkPluginNotReady) while conf_dir holds no loadable network config. Status lists the
// runtime handlers with their features and the runtime's features, as containerd 2.x does, each
// feature true only once berth implements it (docs/cri.md).
import { existsSync } from 'node:fs';
import { runtime } from '../../proto/cri-wire.js';
import { configDump, isRuncLikeRuntime, type BerthConfig, type RuncOptions } from '../config/index.js';
import type { HostInfo } from '../oci/index.js';
import type { RuntimeDeps } from './deps.js';
import { handlerFeatures } from './handler.js';

export const RUNTIME_NAME = 'berth';
export const RUNTIME_VERSION = '0.1.0';

export function version(): runtime.v1.VersionResponse.$Properties {
  return { version: '0.1.0', runtimeName: RUNTIME_NAME, runtimeVersion: RUNTIME_VERSION, runtimeApiVersion: 'v1' };
}

export async function status(deps: Pick<RuntimeDeps, 'config' | 'podCidr' | 'network'>, verbose: boolean): Promise<runtime.v1.StatusResponse.$Properties> {
  const net = await deps.network.networkStatus();
  return {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: net.ready, reason: net.reason, message: net.ready ? '' : `Network plugin returns error: ${net.message}` },
      ],
    },
    ...(verbose ? { info: { config: JSON.stringify({ toml: configDump(deps.config), podCidr: deps.podCidr }) } } : {}),
    runtimeHandlers: runtimeHandlers(deps.config),
    features: RUNTIME_FEATURES,
  };
}

/**
 * Runtime-wide features: SupplementalGroupsPolicy (Merge and Strict, with ContainerStatus.user
 * reporting the groups the process got) under every handler; user namespaces with the host
 * network: not done here.
 */
const RUNTIME_FEATURES: runtime.v1.IRuntimeFeatures = Object.freeze({ supplementalGroupsPolicy: true, userNamespacesHostNetwork: false });

/**
 * Each configured handler by name (in name order), the default one a second time as "" (as
 * containerd), with what berth does under it (handler.ts handlerFeatures): kubelet refuses pods
 * that need a feature a handler lacks instead of running them without.
 */
export function runtimeHandlers(config: Pick<BerthConfig, 'containerd'>, host?: Pick<HostInfo, 'recursiveReadOnlyMounts'>): runtime.v1.IRuntimeHandler[] {
  const out: runtime.v1.IRuntimeHandler[] = [];
  for (const name of Object.keys(config.containerd.runtimes).sort()) {
    const features = handlerFeatures(config.containerd.runtimes[name]!.runtimeType, host);
    out.push({ name, features });
    if (name === config.containerd.defaultRuntimeName) out.push({ name: '', features });
  }
  return out;
}

/**
 * RuntimeConfig: the cgroup driver, as containerd 2.x picks it. The first handler with runc
 * options (the default one first, then by name) decides: `SystemdCgroup = true` -> SYSTEMD, else
 * CGROUPFS. Without any, SYSTEMD when the host runs systemd (/run/systemd/system), else CGROUPFS.
 */
export function runtimeConfig(deps: Pick<RuntimeDeps, 'config'>, systemdRunning = () => existsSync('/run/systemd/system')): runtime.v1.IRuntimeConfigResponse {
  return { linux: { cgroupDriver: cgroupDriver(deps.config, systemdRunning) } };
}

function cgroupDriver(config: Pick<BerthConfig, 'containerd'>, systemdRunning: () => boolean): runtime.v1.CgroupDriver {
  const { defaultRuntimeName, runtimes } = config.containerd;
  const names = [defaultRuntimeName, ...Object.keys(runtimes).sort().filter((n) => n !== defaultRuntimeName)];
  for (const name of names) {
    const r = runtimes[name];
    if (!r || !isRuncLikeRuntime(r.runtimeType)) continue;
    return (r.options as RuncOptions).systemdCgroup ? runtime.v1.CgroupDriver.SYSTEMD : runtime.v1.CgroupDriver.CGROUPFS;
  }
  return systemdRunning() ? runtime.v1.CgroupDriver.SYSTEMD : runtime.v1.CgroupDriver.CGROUPFS;
}

export function updateRuntimeConfig(deps: Pick<RuntimeDeps, 'podCidr' | 'log'>, req: runtime.v1.UpdateRuntimeConfigRequest): void {
  const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  if (cidr !== '' && cidr !== deps.podCidr) deps.log.info({ podCidr: cidr }, 'pod CIDR updated');
  if (cidr !== '') deps.podCidr = cidr;
}
