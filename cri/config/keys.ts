// Every configuration key berth reads, once: containerd 1.6's CRI plugin keys plus the daemon's
// top-level keys. Both file formats and configDump are driven from these tables.
import { parseReference } from '../../image/index.js';
import type { Schema } from './schema.js';

const str: Schema = { t: 'string' };
const bool: Schema = { t: 'boolean' };
const int: Schema = { t: 'integer' };
const uint: Schema = { t: 'integer', min: 0 };
const strings: Schema = { t: 'strings' };
const ignored: Schema = { t: 'ignored' };
/** An image reference as PullImage takes it (docker/distribution grammar, image/reference.ts). */
const imageRef: Schema = {
  t: 'string',
  check: (v) => {
    try {
      parseReference(v);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  },
};

/** containerd.runc.v1.Options as written under `[...runtimes.<handler>.options]`. */
export const RUNC_OPTIONS: Schema = {
  t: 'table',
  fields: {
    BinaryName: str,
    Root: str,
    SystemdCgroup: bool,
    ShimCgroup: str,
    IoUid: { t: 'integer', min: 0, max: 0xffffffff },
    IoGid: { t: 'integer', min: 0, max: 0xffffffff },
    NoPivotRoot: bool,
    NoNewKeyring: bool,
    CriuPath: str,
    CriuImagePath: str,
    CriuWorkPath: str,
  },
};

export const RUNTIME: Schema = {
  t: 'table',
  fields: {
    runtime_type: str,
    runtime_path: str,
    runtime_root: str,
    pod_annotations: strings,
    container_annotations: strings,
    privileged_without_host_devices: bool,
    base_runtime_spec: str,
    cni_conf_dir: str,
    cni_max_conf_num: uint,
    // checked against RUNC_OPTIONS for runc-like runtime types, kept as written otherwise
    options: { t: 'raw-table' },
    // deprecated in 1.6 (runtime v1) or added in 1.7: accepted, no effect in berth
    runtime_engine: ignored,
    privileged_without_host_devices_all_devices_allowed: ignored,
    sandbox_mode: ignored,
    snapshotter: ignored,
  },
};

const REGISTRY: Schema = {
  t: 'table',
  fields: {
    config_path: str,
    mirrors: { t: 'map', of: { t: 'table', fields: { endpoint: strings } } },
    configs: {
      t: 'map',
      of: {
        t: 'table',
        fields: {
          auth: { t: 'table', fields: { username: str, password: str, auth: str, identitytoken: str } },
          tls: { t: 'table', fields: { insecure_skip_verify: bool, ca_file: str, cert_file: str, key_file: str } },
        },
      },
    },
    headers: { t: 'map', of: strings },
    // deprecated in containerd 1.6 itself (use configs.<host>.auth)
    auths: ignored,
  },
};

/** The CRI plugin's keys: berth's file top level, or containerd's `[plugins."io.containerd.grpc.v1.cri"]`. */
export const CRI_FIELDS: Readonly<Record<string, Schema>> = {
  sandbox_image: str,
  // containerd 2.x's images-plugin key: name -> image reference; those images are reported pinned
  pinned_images: { t: 'map', of: imageRef },
  stream_server_address: str,
  stream_server_port: { t: 'port' },
  stream_idle_timeout: { t: 'duration', prop: 'streamIdleTimeoutMs' },
  enable_tls_streaming: bool,
  x509_key_pair_streaming: { t: 'table', fields: { tls_cert_file: str, tls_key_file: str } },
  max_container_log_line_size: int,
  max_concurrent_downloads: { t: 'integer', min: 1 },
  stats_collect_period: uint,
  systemd_cgroup: bool,
  disable_cgroup: bool,
  disable_apparmor: bool,
  restrict_oom_score_adj: bool,
  enable_selinux: bool,
  selinux_category_range: uint,
  tolerate_missing_hugetlb_controller: bool,
  disable_hugetlb_controller: bool,
  device_ownership_from_security_context: bool,
  ignore_image_defined_volumes: bool,
  netns_mounts_under_state_dir: bool,
  enable_unprivileged_ports: bool,
  enable_unprivileged_icmp: bool,
  // berth's own key (CRI-O's drop_infra_ctr): pods without a shared pid namespace run pause-less
  drop_infra_container: bool,
  disable_proc_mount: bool,
  unset_seccomp_profile: str,
  image_pull_progress_timeout: { t: 'duration', prop: 'imagePullProgressTimeoutMs' },
  containerd: {
    t: 'table',
    fields: {
      snapshotter: str,
      default_runtime_name: str,
      discard_unpacked_layers: bool,
      no_pivot: bool,
      disable_snapshot_annotations: bool,
      runtimes: { t: 'map', of: RUNTIME },
      // deprecated runtime tables and 1.6 keys berth has no use for
      default_runtime: ignored,
      untrusted_workload_runtime: ignored,
      ignore_rdt_not_enabled_errors: ignored,
      ignore_blockio_not_enabled_errors: ignored,
    },
  },
  cni: {
    t: 'table',
    fields: { bin_dir: str, conf_dir: str, max_conf_num: uint, conf_template: str, ip_pref: str },
  },
  registry: REGISTRY,
  image_decryption: { t: 'table', fields: { key_model: str } },
  // containerd 1.6 keys berth has no use for: TCP CRI service, 1.7 additions
  disable_tcp_service: ignored,
  enable_cdi: ignored,
  cdi_spec_dirs: ignored,
  drain_exec_sync_io_timeout: ignored,
};

const LOG_LEVEL: Schema = {
  t: 'enum',
  values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'],
  aliases: { '': 'info', warning: 'warn' },
};

/** containerd's top-level `[metrics]`; berth always keeps its call histograms, so grpc_histogram has no effect. */
const METRICS: Schema = { t: 'table', fields: { address: str, grpc_histogram: ignored } };

/** berth's own format: daemon keys and CRI keys side by side at the top level. */
export const BERTH_FILE: Schema = {
  t: 'table',
  fields: {
    root: str,
    state: str,
    grpc: { t: 'table', fields: { address: str } },
    ttrpc: { t: 'table', fields: { address: str } },
    debug: { t: 'table', fields: { level: LOG_LEVEL } },
    metrics: METRICS,
    ...CRI_FIELDS,
  },
};

export const CRI_PLUGIN = 'io.containerd.grpc.v1.cri';

/** A containerd 1.6 `config.toml` (version 2); berth reads its daemon keys and the CRI plugin. */
export const CONTAINERD_FILE: Schema = {
  t: 'table',
  unknown: 'ignore',
  fields: {
    version: { t: 'integer' },
    root: str,
    state: str,
    grpc: { t: 'table', unknown: 'ignore', fields: { address: str } },
    ttrpc: { t: 'table', unknown: 'ignore', fields: { address: str } },
    debug: { t: 'table', unknown: 'ignore', fields: { level: LOG_LEVEL } },
    metrics: METRICS,
    plugins: {
      t: 'table',
      unknown: 'ignore',
      fields: { [CRI_PLUGIN]: { t: 'table', fields: CRI_FIELDS, prop: 'cri' } },
    },
  },
};
