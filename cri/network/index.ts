// cri/network: pod network namespaces and CNI (the real plugins, run as go-cni/libcni run them).
export {
  netnsPath, createNetns, removeNetns, listNetns, isNetns, pinNamespaces, podNamespacePaths, removePodNamespaces, sysctlPath,
  type NetnsEntry, type PinRequest,
} from './netns.js';
export {
  PodNetworking,
  type PodNetworkingOptions,
  type PodNetworkResult,
  type NetworkCondition,
  type TeardownArgs,
  type TeardownOptions,
  type RecoveryReport,
} from './pod-network.js';
export {
  bandwidthFromAnnotations,
  parseQuantity,
  type PodNetworkArgs,
  type PortMappingInput,
  type BandwidthInput,
  type DnsInput,
} from './pod-args.js';
export { CniPluginError } from './cni-exec.js';
export { loadNetworkConfigs, type NetworkConfigList } from './cni-config.js';
export type { CniInterface } from './cni-result.js';
export { defaultConflist, installDefaultCniConfig, DEFAULT_CONFLIST_NAME, type DefaultConflistOptions } from './default-conflist.js';
