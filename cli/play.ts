// berthctl play: Kubernetes Pod manifests (YAML, one or more documents, parsed into
// @kubernetes/client-node's V1Pod model) turned into the CRI calls kubelet would make for them:
// RunPodSandbox with the pod's metadata, hostname, DNS, host ports, namespaces and security
// context; each init container run to completion in order; then every container created and
// started. Fields that would change what runs but have no CRI meaning here (env valueFrom,
// envFrom, volumes other than hostPath/emptyDir, ...) are refused with a clear message instead
// of being silently dropped. A pod that fails half way is stopped and removed again.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { V1Container, V1Pod, V1SecurityContext, V1Volume } from '@kubernetes/client-node';
import { FailedPreconditionError, InvalidArgumentError, isValidIdentifier } from '../common/index.js';
import { runtime, type CriClients } from '../proto/cri.js';

const v1 = runtime.v1;
type PodSandboxConfig = runtime.v1.PodSandboxConfig.$Properties;
type ContainerConfig = runtime.v1.ContainerConfig.$Properties;

/** kubelet's labels on sandboxes and containers (what crictl and `berthctl play --down` filter on). */
export const POD_NAME_LABEL = 'io.kubernetes.pod.name';
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const POD_UID_LABEL = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';

export interface PlayOptions {
  /** Pod log root (kubelet's /var/log/pods): each pod logs under `<root>/<ns>_<name>_<uid>/`. */
  logRoot: string;
  /** Where emptyDir volumes live: `<root>/<uid>/volumes/<name>`. */
  volumeRoot: string;
  /** Pod uid generator (tests pin it). */
  newUid?: () => string;
}

export interface PlannedContainer {
  name: string;
  init: boolean;
  image: string;
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  config: ContainerConfig;
}

export interface PodPlan {
  name: string;
  namespace: string;
  uid: string;
  sandbox: PodSandboxConfig;
  /** emptyDir directories to create before the pod runs (removed with it). */
  emptyDirs: string[];
  /** hostPath directories/files to create (DirectoryOrCreate / FileOrCreate). */
  createDirs: string[];
  createFiles: string[];
  containers: PlannedContainer[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function bad(where: string, what: string): never {
  throw new InvalidArgumentError(`${where}: ${what}`);
}

/** Parses the manifest text into V1Pods (client-node's YAML loader and model). */
export async function loadPods(text: string): Promise<V1Pod[]> {
  // The yaml door only: the package's index loads every API client (~0.7 s).
  const { loadAllYaml } = (await import('@kubernetes/client-node/dist/yaml.js')) as { loadAllYaml: (t: string) => unknown[] };
  let docs: unknown[];
  try {
    docs = loadAllYaml(text).filter((d) => d !== null && d !== undefined);
  } catch (err) {
    throw new InvalidArgumentError(`manifest is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (docs.length === 0) throw new InvalidArgumentError('manifest has no documents');
  return docs.map((d, i) => {
    const o = d as { kind?: unknown; apiVersion?: unknown };
    if (o.kind !== 'Pod' || o.apiVersion !== 'v1') {
      bad(`document ${i + 1}`, `kind ${JSON.stringify(o.kind)} apiVersion ${JSON.stringify(o.apiVersion)} is not supported (only v1 Pod)`);
    }
    return d as V1Pod;
  });
}

/** Kubernetes quantity → number (cpu in cores, memory in bytes), via client-node's parser. */
async function quantity(where: string, q: string | undefined): Promise<number | undefined> {
  if (q === undefined || q === null) return undefined;
  const { quantityToScalar } = (await import('@kubernetes/client-node/dist/util.js')) as { quantityToScalar: (q: string) => number | bigint };
  try {
    return Number(quantityToScalar(String(q)));
  } catch {
    return bad(where, `bad quantity ${JSON.stringify(q)}`);
  }
}

/** kubelet's CPU/memory mapping: shares from requests, CFS quota from limits, memory limit in bytes. */
async function resources(where: string, c: V1Container): Promise<runtime.v1.LinuxContainerResources.$Properties | undefined> {
  const r = c.resources;
  if (!r) return undefined;
  const cpuReq = await quantity(`${where}.resources.requests.cpu`, r.requests?.cpu);
  const cpuLim = await quantity(`${where}.resources.limits.cpu`, r.limits?.cpu);
  const memLim = await quantity(`${where}.resources.limits.memory`, r.limits?.memory);
  const out: runtime.v1.LinuxContainerResources.$Properties = {};
  const req = cpuReq ?? cpuLim;
  if (req !== undefined) out.cpuShares = Math.max(2, Math.floor((req * 1000 * 1024) / 1000));
  if (cpuLim !== undefined) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.floor(cpuLim * 100_000));
  }
  if (memLim !== undefined) out.memoryLimitInBytes = Math.floor(memLim);
  return Object.keys(out).length > 0 ? out : undefined;
}

function seccomp(where: string, p: { type?: string; localhostProfile?: string } | undefined): runtime.v1.SecurityProfile.$Properties {
  const T = v1.SecurityProfile.ProfileType;
  switch (p?.type) {
    case undefined:
    case 'Unconfined':
      return { profileType: T.Unconfined }; // kubelet's default without --seccomp-default
    case 'RuntimeDefault':
      return { profileType: T.RuntimeDefault };
    case 'Localhost':
    {
      const ref = p.localhostProfile;
      if (!ref) bad(`${where}.seccompProfile`, 'Localhost needs localhostProfile');
      return { profileType: T.Localhost, localhostRef: ref };
    }
    default:
      return bad(`${where}.seccompProfile`, `unknown type ${JSON.stringify(p?.type)}`);
  }
}

const int64 = (v: number | undefined) => (v === undefined || v === null ? undefined : { value: v });

function nsMode(host: boolean | undefined, shared: number): number {
  return host ? v1.NamespaceMode.NODE : shared;
}

const PROPAGATION: Record<string, number> = {
  None: v1.MountPropagation.PROPAGATION_PRIVATE,
  HostToContainer: v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER,
  Bidirectional: v1.MountPropagation.PROPAGATION_BIDIRECTIONAL,
};

interface VolumeSource {
  hostPath: string;
}

function planVolumes(where: string, pod: V1Pod, uid: string, o: PlayOptions, plan: PodPlan): Map<string, VolumeSource> {
  const out = new Map<string, VolumeSource>();
  for (const [i, v] of (pod.spec?.volumes ?? []).entries()) {
    const at = `${where}.volumes[${i}]`;
    if (!v.name || !DNS_LABEL.test(v.name)) bad(at, `name ${JSON.stringify(v.name)} is not a DNS label`);
    if (out.has(v.name)) bad(at, `duplicate volume ${v.name}`);
    const kinds = Object.keys(v).filter((k) => k !== 'name' && (v as unknown as Record<string, unknown>)[k] !== undefined);
    if (v.hostPath) {
      out.set(v.name, { hostPath: planHostPath(at, v, plan) });
    } else if (v.emptyDir) {
      if (v.emptyDir.medium) bad(`${at}.emptyDir`, `medium ${JSON.stringify(v.emptyDir.medium)} is not supported`);
      const dir = path.join(o.volumeRoot, uid, 'volumes', v.name);
      plan.emptyDirs.push(dir);
      out.set(v.name, { hostPath: dir });
    } else {
      bad(at, `volume source ${kinds.join(', ') || '(none)'} is not supported (hostPath and emptyDir are)`);
    }
  }
  return out;
}

function planHostPath(at: string, v: V1Volume, plan: PodPlan): string {
  const hp = v.hostPath!;
  if (!hp.path || !path.isAbsolute(hp.path)) bad(`${at}.hostPath`, `path ${JSON.stringify(hp.path)} is not absolute`);
  const p = path.normalize(hp.path);
  switch (hp.type ?? '') {
    case '':
      break;
    case 'DirectoryOrCreate':
      plan.createDirs.push(p);
      break;
    case 'FileOrCreate':
      plan.createFiles.push(p);
      break;
    case 'Directory':
    case 'File':
    case 'Socket':
    case 'CharDevice':
    case 'BlockDevice':
      break;
    default:
      bad(`${at}.hostPath`, `type ${JSON.stringify(hp.type)} is not supported`);
  }
  return p;
}

/** Checks the hostPath types that must already exist (done at run time, not when planning). */
function checkHostPaths(pod: V1Pod): void {
  for (const v of pod.spec?.volumes ?? []) {
    const hp = v.hostPath;
    if (!hp?.type) continue;
    const want: Record<string, (s: Stats) => boolean> = {
      Directory: (s) => s.isDirectory(), File: (s) => s.isFile(), Socket: (s) => s.isSocket(),
      CharDevice: (s) => s.isCharacterDevice(), BlockDevice: (s) => s.isBlockDevice(),
    };
    const test = want[hp.type];
    if (!test) continue;
    let ok = false;
    try {
      ok = test(statSync(hp.path));
    } catch {
      ok = false;
    }
    if (!ok) throw new FailedPreconditionError(`volume ${v.name}: hostPath ${hp.path} is not a ${hp.type}`);
  }
}

function securityContext(where: string, pod: V1Pod, c: V1Container): runtime.v1.LinuxContainerSecurityContext.$Properties {
  const ps = pod.spec?.securityContext;
  const sc: V1SecurityContext = c.securityContext ?? {};
  const runAsUser = sc.runAsUser ?? ps?.runAsUser;
  const runAsNonRoot = sc.runAsNonRoot ?? ps?.runAsNonRoot;
  if (runAsNonRoot && runAsUser === 0) bad(`${where}.securityContext`, 'runAsNonRoot is set but runAsUser is 0');
  const spec = pod.spec!;
  return {
    privileged: sc.privileged === true,
    readonlyRootfs: sc.readOnlyRootFilesystem === true,
    noNewPrivs: sc.allowPrivilegeEscalation === false,
    runAsUser: int64(runAsUser),
    runAsGroup: int64(sc.runAsGroup ?? ps?.runAsGroup),
    supplementalGroups: ps?.supplementalGroups ?? [],
    capabilities: sc.capabilities ? { addCapabilities: sc.capabilities.add ?? [], dropCapabilities: sc.capabilities.drop ?? [] } : undefined,
    seccomp: seccomp(`${where}.securityContext`, sc.seccompProfile ?? ps?.seccompProfile),
    namespaceOptions: {
      network: nsMode(spec.hostNetwork, v1.NamespaceMode.POD),
      pid: nsMode(spec.hostPID, spec.shareProcessNamespace ? v1.NamespaceMode.POD : v1.NamespaceMode.CONTAINER),
      ipc: nsMode(spec.hostIPC, v1.NamespaceMode.POD),
    },
  };
}

async function planContainer(where: string, pod: V1Pod, meta: { name: string; namespace: string; uid: string }, c: V1Container,
  init: boolean, volumes: Map<string, VolumeSource>): Promise<PlannedContainer> {
  if (!c.name || !DNS_LABEL.test(c.name)) bad(where, `name ${JSON.stringify(c.name)} is not a DNS label`);
  if (!c.image) bad(where, 'image is required');
  if (c.envFrom?.length) bad(`${where}.envFrom`, 'is not supported (no ConfigMaps or Secrets here)');
  const envs = (c.env ?? []).map((e, i) => {
    if (e.valueFrom) bad(`${where}.env[${i}]`, `${e.name}: valueFrom is not supported`);
    if (!e.name) bad(`${where}.env[${i}]`, 'name is required');
    return { key: e.name, value: e.value ?? '' };
  });
  const mounts = (c.volumeMounts ?? []).map((m, i) => {
    const at = `${where}.volumeMounts[${i}]`;
    const vol = volumes.get(m.name);
    if (!vol) bad(at, `volume ${JSON.stringify(m.name)} is not defined in spec.volumes`);
    if (!m.mountPath || !path.isAbsolute(m.mountPath)) bad(at, `mountPath ${JSON.stringify(m.mountPath)} is not absolute`);
    if (m.subPathExpr) bad(at, 'subPathExpr is not supported');
    let hostPath = vol.hostPath;
    if (m.subPath) {
      const sub = path.normalize(m.subPath);
      if (path.isAbsolute(sub) || sub === '..' || sub.startsWith('../')) bad(at, `subPath ${JSON.stringify(m.subPath)} escapes the volume`);
      hostPath = path.join(hostPath, sub);
    }
    const propagation = PROPAGATION[m.mountPropagation ?? 'None'];
    if (propagation === undefined) bad(at, `mountPropagation ${JSON.stringify(m.mountPropagation)} is unknown`);
    return { containerPath: m.mountPath, hostPath, readonly: m.readOnly === true, propagation };
  });
  const policy = c.imagePullPolicy ?? (/:latest$|^[^:@]*$/.test(c.image.replace(/^[^/]*\//, '')) ? 'Always' : 'IfNotPresent');
  if (policy !== 'Always' && policy !== 'IfNotPresent' && policy !== 'Never') bad(`${where}.imagePullPolicy`, `unknown policy ${JSON.stringify(policy)}`);
  const labels = {
    [POD_NAME_LABEL]: meta.name, [POD_NAMESPACE_LABEL]: meta.namespace, [POD_UID_LABEL]: meta.uid, [CONTAINER_NAME_LABEL]: c.name,
  };
  const config: ContainerConfig = {
    metadata: { name: c.name, attempt: 0 },
    image: { image: c.image },
    command: c.command ?? [],
    args: c.args ?? [],
    workingDir: c.workingDir ?? '',
    envs,
    mounts,
    labels,
    annotations: { 'io.kubernetes.container.init': String(init) },
    logPath: `${c.name}/0.log`,
    stdin: c.stdin === true,
    stdinOnce: c.stdinOnce === true,
    tty: c.tty === true,
    linux: { resources: await resources(where, c), securityContext: securityContext(where, pod, c) },
  };
  return { name: c.name, init, image: c.image, pullPolicy: policy, config };
}

/** Turns parsed pods into CRI requests; every refusal is an InvalidArgument naming the field. */
export async function planPods(pods: V1Pod[], o: PlayOptions): Promise<PodPlan[]> {
  const plans: PodPlan[] = [];
  for (const [i, pod] of pods.entries()) {
    const name = pod.metadata?.name ?? '';
    const where = `pod ${name || `#${i + 1}`}`;
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) bad(where, `metadata.name ${JSON.stringify(name)} is not a DNS subdomain`);
    const namespace = pod.metadata?.namespace ?? 'default';
    if (!DNS_LABEL.test(namespace)) bad(where, `metadata.namespace ${JSON.stringify(namespace)} is not a DNS label`);
    if (plans.some((p) => p.name === name && p.namespace === namespace)) bad(where, `pod ${namespace}/${name} appears twice`);
    const spec = pod.spec;
    if (!spec?.containers?.length) bad(where, 'spec.containers is empty');
    const uid = pod.metadata?.uid ?? (o.newUid ?? randomUUID)();
    if (!isValidIdentifier(uid)) bad(where, `metadata.uid ${JSON.stringify(uid)} is not a valid identifier`);
    const meta = { name, namespace, uid };
    const plan: PodPlan = { name, namespace, uid, sandbox: {}, emptyDirs: [], createDirs: [], createFiles: [], containers: [] };
    const volumes = planVolumes(`${where}: spec`, pod, uid, o, plan);
    const seen = new Set<string>();
    for (const [list, init] of [[spec.initContainers ?? [], true], [spec.containers, false]] as const) {
      for (const [j, c] of list.entries()) {
        const at = `${where}: spec.${init ? 'initContainers' : 'containers'}[${j}]`;
        if (seen.has(c.name)) bad(at, `duplicate container name ${c.name}`);
        seen.add(c.name);
        plan.containers.push(await planContainer(at, pod, meta, c, init, volumes));
      }
    }
    const portMappings = spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => {
      const proto = { TCP: v1.Protocol.TCP, UDP: v1.Protocol.UDP, SCTP: v1.Protocol.SCTP }[p.protocol ?? 'TCP'];
      if (proto === undefined) bad(`${where}: container ${c.name} port ${p.containerPort}`, `protocol ${JSON.stringify(p.protocol)} is unknown`);
      return { protocol: proto, containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' };
    }));
    const ps = spec.securityContext;
    const sysctls = Object.fromEntries((ps?.sysctls ?? []).map((s) => [s.name, s.value]));
    plan.sandbox = {
      metadata: { name, namespace, uid, attempt: 0 },
      hostname: spec.hostNetwork ? '' : spec.hostname ?? name.split('.')[0]!.slice(0, 63),
      logDirectory: path.join(o.logRoot, `${namespace}_${name}_${uid}`),
      dnsConfig: spec.dnsConfig ? { servers: spec.dnsConfig.nameservers ?? [], searches: spec.dnsConfig.searches ?? [], options: (spec.dnsConfig.options ?? []).map((x) => (x.value ? `${x.name}:${x.value}` : x.name ?? '')) } : undefined,
      portMappings,
      labels: { ...(pod.metadata?.labels ?? {}), [POD_NAME_LABEL]: name, [POD_NAMESPACE_LABEL]: namespace, [POD_UID_LABEL]: uid },
      annotations: pod.metadata?.annotations ?? {},
      linux: {
        sysctls,
        securityContext: {
          namespaceOptions: {
            network: nsMode(spec.hostNetwork, v1.NamespaceMode.POD),
            pid: nsMode(spec.hostPID, v1.NamespaceMode.POD),
            ipc: nsMode(spec.hostIPC, v1.NamespaceMode.POD),
          },
          runAsUser: int64(ps?.runAsUser),
          runAsGroup: int64(ps?.runAsGroup),
          supplementalGroups: ps?.supplementalGroups ?? [],
          seccomp: seccomp(`${where}: spec.securityContext`, ps?.seccompProfile),
          privileged: spec.containers.some((c) => c.securityContext?.privileged === true),
        },
      },
    };
    plans.push(plan);
  }
  return plans;
}

export interface PlayedPod {
  plan: PodPlan;
  podSandboxId: string;
  containers: { name: string; id: string; init: boolean }[];
}

type Print = (line: string) => void;

async function ensureImage(c: CriClients, pc: PlannedContainer, print: Print): Promise<void> {
  if (pc.pullPolicy !== 'Always') {
    const st = await c.image.ImageStatus({ image: { image: pc.image } });
    if (st.image) return;
    if (pc.pullPolicy === 'Never') throw new FailedPreconditionError(`container ${pc.name}: image ${pc.image} is not present and imagePullPolicy is Never`);
  }
  print(`pulling ${pc.image}`);
  await c.image.PullImage({ image: { image: pc.image } });
}

const POLL_MS = 100;

async function waitExited(c: CriClients, id: string, timeoutMs: number): Promise<runtime.v1.ContainerStatus.$Properties> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await c.runtime.ContainerStatus({ containerId: id })).status!;
    if (s.state === v1.ContainerState.CONTAINER_EXITED) return s;
    if (Date.now() > deadline) throw new FailedPreconditionError(`init container ${s.metadata?.name ?? id} did not finish in ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function prepareVolumes(plan: PodPlan): void {
  for (const d of [...plan.emptyDirs, ...plan.createDirs]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const f of plan.createFiles) {
    mkdirSync(path.dirname(f), { recursive: true });
    if (!existsSync(f)) writeFileSync(f, '', { mode: 0o644 });
  }
  mkdirSync(plan.sandbox.logDirectory!, { recursive: true, mode: 0o755 });
}

/** The last `n` lines of a CRI-format log, without the timestamp/stream/tag prefix. */
export function logTail(file: string, n: number): string {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '(no log)';
  }
  const lines = text.split('\n').map((l) => /^\S+ (?:stdout|stderr) [PF] (.*)$/.exec(l)?.[1]).filter((l) => l !== undefined);
  return lines.slice(-n).join('\n');
}

/** Pods of this name/namespace the daemon has (any state). */
export async function findPods(c: CriClients, namespace: string, name: string): Promise<runtime.v1.PodSandbox.$Properties[]> {
  const { items } = await c.runtime.ListPodSandbox({ filter: { labelSelector: { [POD_NAME_LABEL]: name, [POD_NAMESPACE_LABEL]: namespace } } });
  return items;
}

/** Stops and removes a pod and what berthctl made for it (emptyDir volumes). */
export async function removePod(c: CriClients, pod: { id?: string | null; labels?: Record<string, string> | null }, volumeRoot: string): Promise<void> {
  await c.runtime.StopPodSandbox({ podSandboxId: pod.id });
  await c.runtime.RemovePodSandbox({ podSandboxId: pod.id });
  const uid = pod.labels?.[POD_UID_LABEL];
  if (uid && isValidIdentifier(uid)) rmSync(path.join(volumeRoot, uid), { recursive: true, force: true });
}

/** Runs one planned pod; on any failure the pod (and its volumes) is removed and the error rethrown. */
export async function playPod(c: CriClients, pod: V1Pod, plan: PodPlan, o: PlayOptions & { initTimeoutMs: number; print: Print }): Promise<PlayedPod> {
  const running = (await findPods(c, plan.namespace, plan.name)).filter((p) => p.state === v1.PodSandboxState.SANDBOX_READY);
  if (running.length > 0) throw new FailedPreconditionError(`pod ${plan.namespace}/${plan.name} is already running (${running[0]!.id}); berthctl play --down first`);
  checkHostPaths(pod);
  for (const pc of plan.containers) await ensureImage(c, pc, o.print);
  prepareVolumes(plan);
  let podSandboxId = '';
  try {
    podSandboxId = (await c.runtime.RunPodSandbox({ config: plan.sandbox })).podSandboxId;
    const out: PlayedPod = { plan, podSandboxId, containers: [] };
    for (const pc of plan.containers) {
      const { containerId } = await c.runtime.CreateContainer({ podSandboxId, config: pc.config, sandboxConfig: plan.sandbox });
      out.containers.push({ name: pc.name, id: containerId, init: pc.init });
      await c.runtime.StartContainer({ containerId });
      if (!pc.init) continue;
      const s = await waitExited(c, containerId, o.initTimeoutMs);
      if (s.exitCode !== 0) {
        throw new FailedPreconditionError(`init container ${pc.name} exited ${s.exitCode} (${s.reason ?? ''}); the last lines of its log:\n${logTail(s.logPath ?? '', 10)}`);
      }
    }
    return out;
  } catch (err) {
    if (podSandboxId) await removePod(c, { id: podSandboxId, labels: plan.sandbox.labels }, o.volumeRoot).catch(() => undefined);
    else rmSync(path.join(o.volumeRoot, plan.uid), { recursive: true, force: true });
    throw err;
  }
}
