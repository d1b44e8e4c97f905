// Version, Status and UpdateRuntimeConfig. NetworkReady is true once a CNI config file exists in
// conf_dir (the CNI plugin itself arrives with the network issue; pods get loopback until then).
import { readdirSync } from 'node:fs';
import type { runtime } from '../../proto/cri.js';
import { configDump } from '../config/index.js';
import type { RuntimeDeps } from './deps.js';

export const RUNTIME_NAME = 'berth';
export const RUNTIME_VERSION = '0.1.0';

export function version(): runtime.v1.VersionResponse.$Properties {
  return { version: '0.1.0', runtimeName: RUNTIME_NAME, runtimeVersion: RUNTIME_VERSION, runtimeApiVersion: 'v1' };
}

function cniConfigured(confDir: string): boolean {
  try {
    return readdirSync(confDir).some((f) => /\.(conf|conflist|json)$/.test(f));
  } catch {
    return false;
  }
}

export function status(deps: Pick<RuntimeDeps, 'config' | 'podCidr'>, verbose: boolean): runtime.v1.StatusResponse.$Properties {
  const netReady = cniConfigured(deps.config.cni.confDir);
  return {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        netReady
          ? { type: 'NetworkReady', status: true, reason: '', message: '' }
          : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: no network config found in ${deps.config.cni.confDir}` },
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
