// The shape of berth's configuration once loaded: containerd's CRI plugin keys in camelCase
// (`sandbox_image` -> `sandboxImage`), durations in milliseconds (`...Ms`), every field present.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'panic';

/** containerd.runc.v1.Options, field names as protobufjs spells them (docs/config.md, runc options). */
export interface RuncOptions {
  readonly binaryName: string;
  readonly root: string;
  readonly systemdCgroup: boolean;
  readonly shimCgroup: string;
  readonly ioUid: number;
  readonly ioGid: number;
  readonly noPivotRoot: boolean;
  readonly noNewKeyring: boolean;
  readonly criuPath: string;
  readonly criuImagePath: string;
  readonly criuWorkPath: string;
}

/** Options of a runtime whose type berth does not know: kept exactly as written in the file. */
export type OpaqueOptions = Readonly<Record<string, unknown>>;

export interface RuntimeConfig {
  readonly runtimeType: string;
  readonly runtimePath: string;
  readonly runtimeRoot: string;
  readonly podAnnotations: readonly string[];
  readonly containerAnnotations: readonly string[];
  readonly privilegedWithoutHostDevices: boolean;
  readonly baseRuntimeSpec: string;
  readonly cniConfDir: string;
  readonly cniMaxConfNum: number;
  /** RuncOptions for runc-like runtime types (see isRuncLikeRuntime), OpaqueOptions otherwise. */
  readonly options: RuncOptions | OpaqueOptions;
}

export interface ContainerdSection {
  readonly snapshotter: string;
  readonly defaultRuntimeName: string;
  readonly discardUnpackedLayers: boolean;
  readonly noPivot: boolean;
  readonly disableSnapshotAnnotations: boolean;
  readonly runtimes: Readonly<Record<string, RuntimeConfig>>;
}

export interface CniSection {
  readonly binDir: string;
  readonly confDir: string;
  readonly maxConfNum: number;
  readonly confTemplate: string;
  readonly ipPref: string;
}

export interface RegistryAuth {
  readonly username?: string;
  readonly password?: string;
  readonly auth?: string;
  readonly identitytoken?: string;
}
export interface RegistryTls {
  readonly insecureSkipVerify?: boolean;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}
export interface RegistrySection {
  /** hosts.toml roots, ':'-separated (docs/config.md, `[registry]`). When set, `mirrors` and `configs` are unused. */
  readonly configPath: string;
  /** Legacy: host -> mirror endpoints. */
  readonly mirrors: Readonly<Record<string, { readonly endpoint: readonly string[] }>>;
  /** Legacy: host -> credentials and TLS settings. */
  readonly configs: Readonly<Record<string, { readonly auth?: RegistryAuth; readonly tls?: RegistryTls }>>;
  /** Legacy: extra HTTP headers sent to every registry. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
}

export interface BerthConfig {
  // daemon keys (containerd's top-level names)
  readonly root: string;
  readonly state: string;
  readonly grpc: { readonly address: string };
  readonly ttrpc: { readonly address: string };
  readonly debug: { readonly level: LogLevel };
  /** containerd's `[metrics] address` (host:port); "" = no metrics endpoint (docs/metrics.md). */
  readonly metrics: { readonly address: string };

  // CRI plugin keys
  readonly sandboxImage: string;
  /**
   * containerd 2.x `pinned_images`: a name (`sandbox`, `base`, ...) -> image reference. Those
   * images, and the sandbox image, are reported `pinned` (kept by kubelet's image GC).
   */
  readonly pinnedImages: Readonly<Record<string, string>>;
  readonly streamServerAddress: string;
  readonly streamServerPort: number;
  readonly streamIdleTimeoutMs: number;
  readonly enableTlsStreaming: boolean;
  readonly x509KeyPairStreaming: { readonly tlsCertFile: string; readonly tlsKeyFile: string };
  readonly maxContainerLogLineSize: number;
  readonly maxConcurrentDownloads: number;
  readonly statsCollectPeriod: number;
  readonly systemdCgroup: boolean;
  readonly disableCgroup: boolean;
  readonly disableApparmor: boolean;
  readonly restrictOomScoreAdj: boolean;
  readonly enableSelinux: boolean;
  readonly selinuxCategoryRange: number;
  readonly tolerateMissingHugetlbController: boolean;
  readonly disableHugetlbController: boolean;
  readonly deviceOwnershipFromSecurityContext: boolean;
  readonly ignoreImageDefinedVolumes: boolean;
  readonly netnsMountsUnderStateDir: boolean;
  readonly enableUnprivilegedPorts: boolean;
  readonly enableUnprivilegedIcmp: boolean;
  /** berth's own key: pods without a shared pid namespace run without a pause process (docs/cri.md). */
  readonly dropInfraContainer: boolean;
  readonly disableProcMount: boolean;
  readonly unsetSeccompProfile: string;
  readonly imagePullProgressTimeoutMs: number;
  readonly containerd: ContainerdSection;
  readonly cni: CniSection;
  readonly registry: RegistrySection;
  readonly imageDecryption: { readonly keyModel: string };

  // where this config came from (not written by configDump)
  readonly format: 'defaults' | 'berth' | 'containerd';
  readonly source?: string;
  /** Dotted keys that were accepted but have no effect in berth (other plugins, deprecated keys). */
  readonly ignored: readonly string[];
}

type DeepPartial<T> = T extends readonly (infer _U)[]
  ? T
  : T extends object
    ? { -readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Values applied over the file (e.g. command-line flags). New runtimes need `runtimeType`. */
export type ConfigOverrides = DeepPartial<Omit<BerthConfig, 'format' | 'source' | 'ignored'>>;

export interface ResolvedRuntime extends RuntimeConfig {
  /** The CRI runtime handler this answers for ("" resolved to the default runtime's name). */
  readonly handler: string;
}
