// Version, Status and UpdateRuntimeConfig. NetworkReady is the CNI config state: false
// (NetworkPluginNotReady) while conf_dir holds no loadable network config.
import type { runtime } from '../../proto/cri.js';
import { configDump } from '../config/index.js';
import type { RuntimeDeps } from './deps.js';

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
  };
}

export function updateRuntimeConfig(deps: Pick<RuntimeDeps, 'podCidr' | 'log'>, req: runtime.v1.UpdateRuntimeConfigRequest): void {
  const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  if (cidr !== '' && cidr !== deps.podCidr) deps.log.info({ podCidr: cidr }, 'pod CIDR updated');
  if (cidr !== '') deps.podCidr = cidr;
}
