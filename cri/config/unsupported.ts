// containerd keys berth reads but does not act on: a value other than the inert default is refused
// at load, naming the key, so the daemon exits instead of running without what the file asked
// for (docs/config.md, "Refused values"). Keys berth acts on are not listed here.
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../../common/index.js';
import { formatPath, type Path } from './schema.js';
import type { BerthConfig } from './types.js';

interface Refusal {
  /** Dotted key under the CRI plugin's table. */
  readonly key: string;
  /** Whether the loaded value asks for something berth does not do. */
  readonly set: (c: BerthConfig) => boolean;
  readonly why: string;
}

const nonEmpty = (o: object): boolean => Object.keys(o).length > 0;

const REFUSALS: readonly Refusal[] = [
  {
    key: 'enable_tls_streaming', set: (c) => c.enableTlsStreaming,
    why: 'berth serves exec/attach/port-forward over plain HTTP on stream_server_address only; keep it on a loopback address',
  },
  {
    key: 'x509_key_pair_streaming.tls_cert_file', set: (c) => c.x509KeyPairStreaming.tlsCertFile !== '',
    why: 'berth has no TLS streaming, so a key pair would not be used',
  },
  {
    key: 'x509_key_pair_streaming.tls_key_file', set: (c) => c.x509KeyPairStreaming.tlsKeyFile !== '',
    why: 'berth has no TLS streaming, so a key pair would not be used',
  },
  {
    key: 'unset_seccomp_profile', set: (c) => c.unsetSeccompProfile !== '',
    why: 'berth does not apply a node-wide seccomp profile to containers whose CRI config names none; set it per pod (seccomp RuntimeDefault)',
  },
  {
    key: 'disable_proc_mount', set: (c) => c.disableProcMount,
    why: 'berth always applies the masked and read-only paths the CRI config sends (the Kubernetes >= 1.12 behaviour)',
  },
  {
    key: 'registry.mirrors', set: (c) => nonEmpty(c.registry.mirrors),
    why: 'berth reads mirrors from hosts.toml files: set registry.config_path and write <dir>/<host>/hosts.toml',
  },
  {
    key: 'registry.configs', set: (c) => nonEmpty(c.registry.configs),
    why: 'berth reads registry TLS settings from hosts.toml (ca, skip_verify) under registry.config_path; ' +
      'pull credentials come with each PullImage request',
  },
  {
    key: 'registry.headers', set: (c) => nonEmpty(c.registry.headers),
    why: 'berth reads extra registry headers from hosts.toml ([header]) under registry.config_path',
  },
  {
    key: 'disable_cgroup', set: (c) => c.disableCgroup,
    why: 'berth always places containers in cgroups (kubelet\'s limits and stats need them); this key is for rootless containerd',
  },
  {
    // containerd labels only where the host has SELinux; elsewhere the key changes nothing
    key: 'enable_selinux', set: (c) => c.enableSelinux && existsSync('/sys/fs/selinux/enforce'),
    why: 'berth applies no SELinux labels, and SELinux is enabled on this host',
  },
  {
    key: 'device_ownership_from_security_context', set: (c) => c.deviceOwnershipFromSecurityContext,
    why: 'berth gives devices the owner they have on the host',
  },
  {
    key: 'containerd.discard_unpacked_layers', set: (c) => c.containerd.discardUnpackedLayers,
    why: 'berth keeps layer blobs after unpacking (image export and content usage read them)',
  },
  {
    key: 'containerd.no_pivot', set: (c) => c.containerd.noPivot,
    why: 'containerd applies it to the v1 linux runtime only, which berth does not have; set NoPivotRoot in the runtime\'s options',
  },
  {
    key: 'containerd.disable_snapshot_annotations', set: (c) => !c.containerd.disableSnapshotAnnotations,
    why: 'annotations are for remote snapshotters; berth has only its overlayfs snapshotter, which reads none',
  },
  {
    key: 'cni.conf_template', set: (c) => c.cni.confTemplate !== '',
    why: 'berth writes no CNI config from a template; put the network config in cni.conf_dir',
  },
  {
    key: 'image_decryption.key_model', set: (c) => c.imageDecryption.keyModel !== 'node' && c.imageDecryption.keyModel !== '',
    why: 'berth does not decrypt image layers (an encrypted layer fails its pull)',
  },
];

/** Throws InvalidArgumentError naming the first key whose value berth would not honour. */
export function refuseUnsupported(cfg: BerthConfig, criPath: Path): void {
  for (const r of REFUSALS) {
    if (r.set(cfg)) {
      throw new InvalidArgumentError(`${formatPath([...criPath, ...r.key.split('.')])}: not supported by berth (${r.why})`);
    }
  }
  const max = cfg.maxContainerLogLineSize;
  if (max <= 0 && max !== -1) {
    throw new InvalidArgumentError(
      `${formatPath([...criPath, 'max_container_log_line_size'])}: must be a positive size in bytes or -1 (no limit), got ${max}`,
    );
  }
}
