// Pods without a pause process (docs/cri.md "Pods without a pause process"; CRI-O's infra-less
// pods). A pod whose containers do not share a pid namespace (namespace_options.pid not POD)
// needs no process of its own: RunPodSandbox pins the pod's network, IPC and UTS namespaces
// (hostname and pod sysctls set inside them by the pinning helper, never on a host namespace),
// makes the pod cgroup, and starts the pod's shim while CNI ADD runs, so the first StartContainer
// finds the shim serving. Containers join the pinned files by path. `drop_infra_container = false`
// keeps a pause container in every pod, as containerd.
//
//   record (stage netns, the pinned files named) -> pin net/ipc/uts -> CNI ADD ─┐
//                                                -> pod files, pod cgroup, pod shim ┴-> READY (+ IPs)
// Two synced writes on the way: recovery treats every stage short of `complete` alike (network
// and pins torn down by the netns files, the CNI intent journal and `pauseless`), so the record
// is made at `netns` and the IPs go with READY.
import { settleAll, type CleanupStack, type Logger, type PhaseClock } from '../../common/index.js';
import { netnsPath, pinNamespaces, podNamespacePaths, removeNetns, removePodNamespaces } from '../network/index.js';
import { Annotation, validateSysctls, type PodNamespacePaths } from '../oci/index.js';
import type { JsonObject, SandboxRecord } from '../store/index.js';
import { ensureCgroup, resolveCgroupPath } from '../../sys/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import type { taskRuntime } from './handler.js';
import { removeSandboxFiles, setupSandboxFiles } from './sandbox-files.js';
import { setupNetwork } from './sandbox-network.js';

const POD = 0; // runtime.v1.NamespaceMode.POD
const NODE = 2; // runtime.v1.NamespaceMode.NODE

type Deps = Pick<RuntimeDeps, 'config' | 'tasks' | 'dirs' | 'network'>;

/** A pod runs without a pause process when the key allows it and it shares no pid namespace. */
export function runsPauseless(cfg: Pick<RuntimeDeps['config'], 'dropInfraContainer'>, ns: { pid: number }): boolean {
  return cfg.dropInfraContainer && ns.pid !== POD;
}

/** The pinned files a container of a pause-less pod joins; undefined for a pod with a pause process. */
export function podNamespacesOf(s: SandboxRecord): PodNamespacePaths | undefined {
  if (!s.pauseless) return undefined;
  return {
    ...(s.netnsPath ? { network: s.netnsPath } : {}),
    ...(s.pauseless.ipcPath ? { ipc: s.pauseless.ipcPath } : {}),
    ...(s.pauseless.utsPath ? { uts: s.pauseless.utsPath } : {}),
  };
}

/** Unpins a pause-less pod's IPC and UTS namespaces (its netns goes with the network teardown). */
export async function unpinPodNamespaces(deps: Pick<RuntimeDeps, 'config'>, s: SandboxRecord): Promise<void> {
  if (s.pauseless) await removePodNamespaces(deps.config.state, s.id);
}

/** The pod shim's bundle config: the pod's annotations (its tasks' shim is found by them), no process. */
function podShimSpec(id: string, config: JsonObject): object {
  const md = (config.metadata ?? {}) as { name?: string; namespace?: string; uid?: string };
  return {
    ociVersion: '1.0.2-dev',
    annotations: {
      [Annotation.ContainerType]: 'sandbox', [Annotation.SandboxId]: id, [Annotation.SandboxNamespace]: md.namespace ?? '',
      [Annotation.SandboxUid]: md.uid ?? '', [Annotation.SandboxName]: md.name ?? '',
      [Annotation.SandboxLogDir]: typeof config.logDirectory === 'string' ? config.logDirectory : '',
    },
  };
}

/** The record fields a pause-less pod is created with: stage `netns` and the files it pins. */
export function pauselessRecordFields(cfg: Pick<RuntimeDeps['config'], 'state'>, id: string, ns: { network: number; ipc: number }): Pick<SandboxRecord, 'stage' | 'netnsPath' | 'pauseless'> {
  const paths = podNamespacePaths(cfg.state, id);
  const net = ns.network === NODE ? '' : netnsPath(cfg.state, id);
  return { stage: 'netns', netnsPath: net, pauseless: { ipcPath: ns.ipc === NODE ? '' : paths.ipc, utsPath: net ? paths.uts : '' } };
}

export interface PauselessRun {
  id: string;
  metadata: { name: string; uid: string; namespace: string };
  /** The pod config with the sysctls enable_unprivileged_* add. */
  config: JsonObject;
  specConfig: JsonObject;
  ns: { network: number; pid: number; ipc: number };
  rt: ReturnType<typeof taskRuntime>;
  clock: PhaseClock;
  undo: CleanupStack;
  log: Logger;
}

/** What READY records: the pod shim's pid and the pod's IPs ('' with the host's network). */
export interface PauselessPod {
  shimPid: number;
  ip: string;
  additionalIps: string[];
}

/**
 * Everything RunPodSandbox does for a pause-less pod between its record (made with
 * pauselessRecordFields) and READY; each step pushes its undo. Resolves once every step settled.
 */
export async function setUpPauselessPod(deps: Deps, r: PauselessRun): Promise<PauselessPod> {
  const { id, clock, undo } = r;
  const hostNetwork = r.ns.network === NODE;
  const hostIpc = r.ns.ipc === NODE;
  const files = pauselessRecordFields(deps.config, id, r.ns);
  const net = files.netnsPath || undefined;
  const pin = { ...(net ? { net, uts: files.pauseless!.utsPath } : {}), ...(hostIpc ? {} : { ipc: files.pauseless!.ipcPath }) };
  const sysctls = validateSysctls((r.specConfig.linux as { sysctls?: Record<string, string> } | undefined)?.sysctls, { hostNetwork, hostIpc });
  const hostname = !hostNetwork && typeof r.config.hostname === 'string' ? r.config.hostname : '';

  let pinned = false;
  undo.push(`unpin namespaces of ${id}`, async () => {
    if (!pinned) return;
    await removePodNamespaces(deps.config.state, id);
    if (net) await removeNetns(net);
  });
  let added = false;
  undo.push(`tear down pod network of ${id}`, async () => {
    if (added) await deps.network.teardownPodNetwork({ id }, { removeNetns: false });
  });
  const network = (async () => {
    // `lo` is brought up by CNI's loopback network, which runs beside the pod's own.
    await clock.time('netns', () => pinNamespaces({ ...pin, ...(hostname ? { hostname } : {}), sysctls, loUp: false }));
    pinned = true;
    if (!net) return { ip: '', additionalIps: [] };
    const result = await clock.time('cni add', () => setupNetwork(deps, id, r.metadata, net, r.config));
    added = true;
    r.log.info({ ip: result.ip, additionalIps: result.additionalIps }, 'pod network ready');
    return { ip: result.ip, additionalIps: [...result.additionalIps] };
  })();

  undo.push(`remove sandbox files of ${id}`, () => removeSandboxFiles(deps.dirs, id));
  undo.push(`release pod shim of ${id}`, () => deps.tasks.stopPodShim(CRI_NAMESPACE, id));
  const shim = clock.time('pod shim', () => deps.tasks.startPodShim({
    namespace: CRI_NAMESPACE, id, runtime: r.rt.runtime, spec: podShimSpec(id, r.config), ...(r.rt.options ? { options: r.rt.options } : {}),
  }));

  const parent = (r.config.linux as { cgroupParent?: string } | undefined)?.cgroupParent ?? '';
  const cgroup = async () => {
    // kubelet makes the pod cgroup; a pod sent without one made gets it here, as runc would for a
    // pause container (a systemd slice is systemd's to make).
    if (parent && !parent.endsWith('.slice') && !parent.includes(':') && ensureCgroup(resolveCgroupPath(parent))) {
      r.log.debug({ cgroupParent: parent }, 'pod cgroup made');
    }
  };
  const [ips, shimPid] = await settleAll([
    network, shim,
    clock.time('pod files', () => setupSandboxFiles(deps.dirs, id, r.config, { hostIpc })),
    cgroup(),
  ]);
  return { shimPid, ...ips };
}
