// cri/config: berth's configuration. containerd 1.6's CRI plugin keys in berth's own TOML format or
// in a containerd config.toml, checked and defaulted into one frozen BerthConfig.
export { loadConfig, parseConfig } from './load.js';
export { configDump } from './dump.js';
export { DEFAULT_CONFIG } from './defaults.js';
export { resolveRuntime, isRuncLikeRuntime } from './runtime.js';
export { parseDuration, formatDuration } from '../../common/index.js';
export type {
  BerthConfig,
  ConfigOverrides,
  ContainerdSection,
  CniSection,
  LogLevel,
  OpaqueOptions,
  RegistrySection,
  ResolvedRuntime,
  RuncOptions,
  RuntimeConfig,
} from './types.js';
