// berth's built-in configuration: containerd 1.6.20's CRI defaults (`containerd config default`)
// moved to berth's paths, with two runtime handlers. `configDump(DEFAULT_CONFIG)` prints it.
import type { BerthConfig, RuncOptions, RuntimeConfig } from './types.js';

export const RUNC_OPTIONS_ZERO: RuncOptions = {
  binaryName: '',
  root: '',
  systemdCgroup: false,
  shimCgroup: '',
  ioUid: 0,
  ioGid: 0,
  noPivotRoot: false,
  noNewKeyring: false,
  criuPath: '',
  criuImagePath: '',
  criuWorkPath: '',
};

/** Every per-runtime key at its zero value (what containerd gives a runtime table's missing keys). */
export function runtimeZero(runtimeType: string, options: RuntimeConfig['options']): RuntimeConfig {
  return {
    runtimeType,
    runtimePath: '',
    runtimeRoot: '',
    podAnnotations: [],
    containerAnnotations: [],
    privilegedWithoutHostDevices: false,
    baseRuntimeSpec: '',
    cniConfDir: '',
    cniMaxConfNum: 0,
    options,
  };
}

export const DEFAULT_CONFIG: BerthConfig = {
  root: '/var/lib/berth',
  state: '/run/berth',
  grpc: { address: '/run/berth/berth.sock' },
  ttrpc: { address: '/run/berth/berth.sock.ttrpc' },
  debug: { level: 'info' },
  metrics: { address: '' },

  sandboxImage: 'registry.k8s.io/pause:3.9',
  pinnedImages: {},
  streamServerAddress: '127.0.0.1',
  streamServerPort: 0,
  streamIdleTimeoutMs: 4 * 3600_000,
  enableTlsStreaming: false,
  x509KeyPairStreaming: { tlsCertFile: '', tlsKeyFile: '' },
  maxContainerLogLineSize: 16384,
  maxConcurrentDownloads: 3,
  statsCollectPeriod: 10,
  systemdCgroup: false,
  disableCgroup: false,
  disableApparmor: false,
  restrictOomScoreAdj: false,
  enableSelinux: false,
  selinuxCategoryRange: 1024,
  tolerateMissingHugetlbController: true,
  disableHugetlbController: true,
  deviceOwnershipFromSecurityContext: false,
  ignoreImageDefinedVolumes: false,
  netnsMountsUnderStateDir: false,
  enableUnprivilegedPorts: false,
  enableUnprivilegedIcmp: false,
  // berth's own key (CRI-O's drop_infra_ctr): on; false runs a pause container in every pod as containerd
  dropInfraContainer: true,
  disableProcMount: false,
  unsetSeccompProfile: '',
  // containerd 1.7's key and default (1.6.20 has no pull progress timeout)
  imagePullProgressTimeoutMs: 5 * 60_000,
  containerd: {
    snapshotter: 'overlayfs',
    defaultRuntimeName: 'runc',
    discardUnpackedLayers: false,
    noPivot: false,
    disableSnapshotAnnotations: true,
    runtimes: {
      runc: runtimeZero('io.containerd.runc.v2', RUNC_OPTIONS_ZERO),
      berth: runtimeZero('io.containerd.berth.v2', RUNC_OPTIONS_ZERO),
    },
  },
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', maxConfNum: 1, confTemplate: '', ipPref: '' },
  registry: { configPath: '', mirrors: {}, configs: {}, headers: {} },
  imageDecryption: { keyModel: 'node' },

  format: 'defaults',
  ignored: [],
};
