// CreateContainer's OCI spec, step by step in containerd's order (pkg/cri/server
// container_create_linux.go): process, mounts, privileges, resources, namespaces, user,
// security profiles, annotations.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { FailedPreconditionError, InvalidArgumentError, silentLogger } from '../../common/index.js';
import { Annotation, passthroughAnnotations } from './annotations.js';
import { applyCapabilityChanges, capabilitySet } from './capabilities.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, baseSpec } from './default-spec.js';
import { deviceFromPath, listDevices, readHostInfo, type HostInfo } from './host-info.js';
import { applyContainerMounts, hasMount } from './mounts.js';
import { applyContainerNamespaces, readModes, type PodNamespacePaths } from './namespaces.js';
import { applyUserns, keepLockedFlags, readUserns, sameUserns } from './userns.js';
import { containerCwd, containerEnv, processArgs } from './process.js';
import { applyResources, readResources, restrictOomScoreAdj } from './resources.js';
import { apparmorFor } from './apparmor.js';
import { applySelinuxOptions, chooseProfile, seccompFor, type SpecLog } from './security.js';
import type { CriContainerConfig, CriDevice, CriMount, CriPodSandboxConfig, ImageConfig, OciSpec } from './types.js';
import { buildUser, criUserString } from './user.js';
import { NamespaceMode } from './values.js';

export interface RuntimeHandlerOptions {
  /** Pod annotation keys (globs) copied into the specs: the handler's `pod_annotations`. */
  podAnnotations?: readonly string[];
  /** Container annotation keys (globs) copied into container specs: `container_annotations`. */
  containerAnnotations?: readonly string[];
  /** `privileged_without_host_devices`: privileged containers get only their CRI devices. */
  privilegedWithoutHostDevices?: boolean;
  /** The handler's runc options; `systemdCgroup` picks the systemd cgroup path form. */
  options?: object;
  /** The handler does recursive read-only mounts (its Status feature); else an rro mount is refused. */
  recursiveReadOnlyMounts?: boolean;
}

/** Host paths of the pod's files, made when the sandbox was set up. */
export interface SandboxFiles {
  hostsPath?: string;
  resolvConfPath?: string;
  /** Mounted when given and the file exists (containerd skips it for old sandboxes). */
  hostnamePath?: string;
  /** The pod's /dev/shm (a tmpfs); host /dev/shm is used for host-IPC pods. */
  devShmPath?: string;
}

export interface ContainerSpecInput {
  id: string;
  sandboxId: string;
  /** The pause process, whose namespaces the container joins. */
  sandboxPid?: number;
  /** A pod without a pause process: the pinned namespace files the container joins instead. */
  podNamespaces?: PodNamespacePaths;
  /** For pid mode TARGET: the target container's init pid. */
  targetPid?: number;
  /** The pod's pinned user namespace, when the pod has one. */
  usernsPath?: string;
  config: CriContainerConfig;
  sandboxConfig: CriPodSandboxConfig;
  imageConfig: ImageConfig;
  /** The image as the client named it (annotation `image-name`). */
  imageName: string;
  /** Host path of the container's rootfs: users and groups are read from its /etc. */
  rootfs: string;
  sandboxFiles?: SandboxFiles;
  /** The termination-message file, bound read-write unless a CRI mount already covers it. */
  terminationMessage?: { hostPath: string; containerPath: string };
  /** The image's own VOLUME paths, prepared on the host (docs/oci-spec.md, "Image-defined volumes"). */
  imageVolumes?: readonly CriMount[];
  /** containerd namespace, for the default cgroup path `/<namespace>/<id>` (default k8s.io). */
  namespace?: string;
  runtime?: RuntimeHandlerOptions;
  host?: HostInfo;
  /** Where what the host cannot apply and is ignored is logged (debug); bind the ids to it. */
  log?: SpecLog;
}

/** The handler's runc option `SystemdCgroup` (runc runs with --systemd-cgroup). */
export function usesSystemdCgroup(runtime: RuntimeHandlerOptions | undefined): boolean {
  return (runtime?.options as { systemdCgroup?: unknown } | undefined)?.systemdCgroup === true;
}

/**
 * containerd's getCgroupsPath: a systemd slice parent (kubelet's `--cgroup-driver=systemd`,
 * `kubepods-burstable-pod<uid>.slice`) gives `<slice>:cri-containerd:<id>`, which runc's systemd
 * driver makes the unit `cri-containerd-<id>.scope` in that slice; a cgroupfs parent gives
 * `<parent>/<id>`. With `systemd` (SystemdCgroup = true) runc accepts only the slice form: a
 * cgroupfs parent is InvalidArgument (kubelet and the runtime disagree on the driver), and a pod
 * without a parent goes to `system.slice:cri-containerd:<id>` (containerd leaves `/k8s.io/<id>`
 * there, which runc refuses). docs/oci-spec.md.
 */
export function cgroupsPath(parent: string, id: string, systemd = false): string {
  const base = path.posix.basename(parent);
  if (base.endsWith('.slice')) return `${base}:cri-containerd:${id}`;
  if (!systemd) return path.posix.join(parent, id);
  if (parent === '') return `system.slice:cri-containerd:${id}`;
  throw new InvalidArgumentError(
    `cgroup_parent ${JSON.stringify(parent)} is a cgroupfs path, but the runtime handler uses the systemd cgroup driver (SystemdCgroup = true): `
    + 'run kubelet with --cgroup-driver=systemd, or set SystemdCgroup = false');
}

/** The pod files as CRI mounts (containerd's containerMounts), skipping paths the CRI covers. */
function podMounts(input: ContainerSpecInput, readonlyRootfs: boolean, hostIpc: boolean): CriMount[] {
  const files = input.sandboxFiles ?? {};
  const cri = input.config.mounts ?? [];
  const out: CriMount[] = [];
  const add = (containerPath: string, hostPath: string | undefined, readonly: boolean) => {
    if (hostPath && !hasMount(cri, containerPath)) out.push({ containerPath, hostPath, readonly });
  };
  if (files.hostnamePath && existsSync(files.hostnamePath)) add('/etc/hostname', files.hostnamePath, readonlyRootfs);
  add('/etc/hosts', files.hostsPath, readonlyRootfs);
  add('/etc/resolv.conf', files.resolvConfPath, readonlyRootfs);
  add('/dev/shm', hostIpc ? '/dev/shm' : files.devShmPath, false);
  if (input.terminationMessage) add(input.terminationMessage.containerPath, input.terminationMessage.hostPath, false);
  for (const v of input.imageVolumes ?? []) add(v.containerPath ?? '', v.hostPath ?? undefined, false);
  return out;
}

/** CRI devices: a device node, or a directory of them, bound at container_path. */
function applyCriDevices(spec: OciSpec, devices: readonly CriDevice[]): void {
  for (const d of devices) {
    const hostPath = d.hostPath ?? '';
    const containerPath = d.containerPath || hostPath;
    const access = d.permissions || 'rwm';
    if (!/^[rwm]+$/.test(access)) throw new InvalidArgumentError(`devices: permissions ${JSON.stringify(access)} for ${hostPath} must be made of r, w, m`);
    if (!hostPath.startsWith('/') || !containerPath.startsWith('/')) throw new InvalidArgumentError(`devices: ${JSON.stringify(hostPath)} -> ${JSON.stringify(containerPath)} must be absolute paths`);
    let found;
    try {
      const dev = deviceFromPath(hostPath, containerPath);
      found = dev ? [dev] : listDevices(hostPath, containerPath, false);
    } catch (err) {
      throw new InvalidArgumentError(`devices: host_path ${JSON.stringify(hostPath)} does not exist`, { cause: err });
    }
    if (found.length === 0) throw new InvalidArgumentError(`devices: ${JSON.stringify(hostPath)} is not a device node or a directory of them`);
    for (const dev of found) {
      spec.linux.devices = [...(spec.linux.devices ?? []), dev];
      spec.linux.resources?.devices?.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access });
    }
  }
}

/** containerd's WithPrivileged: every capability the daemon holds, no masks, rw sysfs/cgroupfs. */
function applyPrivileged(spec: OciSpec, host: HostInfo, withHostDevices: boolean): void {
  spec.process.capabilities = capabilitySet(host.capabilities);
  delete spec.linux.maskedPaths;
  delete spec.linux.readonlyPaths;
  for (const m of spec.mounts) {
    if ((m.type === 'sysfs' && m.destination === '/sys') || (m.type === 'cgroup' && m.destination === '/sys/fs/cgroup')) {
      m.options = (m.options ?? []).map((o) => (o === 'ro' ? 'rw' : o));
    }
  }
  if (withHostDevices) {
    spec.linux.devices = host.hostDevices();
    spec.linux.resources = { ...(spec.linux.resources ?? {}), devices: [{ allow: true, access: 'rwm' }] };
  }
}

export function containerSpec(input: ContainerSpecInput): OciSpec {
  const host = input.host ?? readHostInfo();
  const log = input.log ?? silentLogger;
  const { config, sandboxConfig, imageConfig } = input;
  const sc = config.linux?.securityContext ?? {};
  const podSc = sandboxConfig.linux?.securityContext ?? {};
  const podModes = readModes(podSc.namespaceOptions, 'pod namespace_options', 'pod');
  const modes = readModes(sc.namespaceOptions, 'namespace_options', 'container');
  const spec = baseSpec(input.namespace ?? 'k8s.io', input.id);

  // process
  spec.process.args = processArgs(config, imageConfig);
  spec.process.env = containerEnv(config, imageConfig, sandboxConfig.hostname || host.hostname);
  spec.process.cwd = containerCwd(config, imageConfig);
  spec.process.noNewPrivileges = false; // set below from the security context
  if (config.tty) spec.process.terminal = true;

  applySelinuxOptions(sc.selinuxOptions, 'security_context', host, log);
  const readonlyRootfs = sc.readonlyRootfs === true;
  applyContainerMounts(spec, config.mounts ?? [], podMounts(input, readonlyRootfs, podModes.ipc === NamespaceMode.NODE), host, log,
    input.runtime?.recursiveReadOnlyMounts === true);

  // Defaults as containerd's base spec; the CRI fields replace them when given.
  spec.linux.maskedPaths = sc.maskedPaths?.length ? [...sc.maskedPaths] : [...DEFAULT_MASKED_PATHS];
  spec.linux.readonlyPaths = sc.readonlyPaths?.length ? [...sc.readonlyPaths] : [...DEFAULT_READONLY_PATHS];

  if (sc.privileged) {
    if (!podSc.privileged) throw new FailedPreconditionError('privileged container requested but the pod sandbox is not privileged');
    applyPrivileged(spec, host, !input.runtime?.privilegedWithoutHostDevices);
    if (input.runtime?.privilegedWithoutHostDevices) applyCriDevices(spec, config.devices ?? []);
  } else {
    applyCriDevices(spec, config.devices ?? []);
    spec.process.capabilities = capabilitySet(applyCapabilityChanges(spec.process.capabilities?.bounding ?? [], sc.capabilities, host.capabilities));
  }
  // Ambient capabilities stay empty (non-root + caps is not defined by Kubernetes).
  if (sc.noNewPrivs) spec.process.noNewPrivileges = true;
  if (readonlyRootfs) spec.root.readonly = true;

  // cgroups
  const resources = config.linux?.resources;
  if (resources) spec.linux.resources = applyResources(spec.linux.resources ?? {}, resources, host);
  const parent = sandboxConfig.linux?.cgroupParent ?? '';
  const systemd = usesSystemdCgroup(input.runtime);
  if (parent || systemd) spec.linux.cgroupsPath = cgroupsPath(parent, input.id, systemd);
  if (resources) spec.process.oomScoreAdj = restrictOomScoreAdj(readResources(resources).oomScoreAdj, host.oomScoreAdj);

  applyContainerNamespaces(spec, podModes, modes, input.sandboxPid, input.targetPid, input.podNamespaces);
  const podUserns = readUserns(podSc.namespaceOptions, 'pod namespace_options');
  const userns = readUserns(sc.namespaceOptions, 'namespace_options');
  if (!sameUserns(podUserns, userns)) {
    throw new InvalidArgumentError('namespace_options.userns_options: a container must use its pod\'s user namespace (the same mode and mappings)');
  }
  if (userns) {
    if (!input.usernsPath) throw new InvalidArgumentError('namespace_options.userns_options: no pinned user namespace was given for the pod');
    applyUserns(spec, userns, input.usernsPath);
    keepLockedFlags(spec, host);
  }

  // user: CRI user, else the image's; groups from /etc/group plus supplemental_groups
  let userstr = criUserString(sc.runAsUsername, sc.runAsUser, sc.runAsGroup);
  if (!userstr) userstr = imageConfig.User ?? '';
  spec.process.user = buildUser(input.rootfs, userstr, sc.supplementalGroups, sc.supplementalGroupsPolicy);

  const apparmor = apparmorFor(chooseProfile(sc.apparmor, sc.apparmorProfile, 'apparmor', 'apparmor_profile'), sc.privileged === true, host, log);
  if (apparmor) spec.process.apparmorProfile = apparmor;
  const seccompChoice = chooseProfile(sc.seccomp, sc.seccompProfilePath, 'seccomp', 'seccomp_profile_path');
  const seccomp = seccompFor(seccompChoice, sc.privileged === true, spec.process.capabilities?.bounding ?? []);
  if (seccomp) spec.linux.seccomp = seccomp;

  spec.annotations = {
    ...passthroughAnnotations(sandboxConfig.annotations, input.runtime?.podAnnotations),
    ...passthroughAnnotations(config.annotations, input.runtime?.containerAnnotations),
    [Annotation.ContainerType]: 'container',
    [Annotation.SandboxId]: input.sandboxId,
    [Annotation.SandboxNamespace]: sandboxConfig.metadata?.namespace ?? '',
    [Annotation.SandboxUid]: sandboxConfig.metadata?.uid ?? '',
    [Annotation.SandboxName]: sandboxConfig.metadata?.name ?? '',
    [Annotation.ContainerName]: config.metadata?.name ?? '',
    [Annotation.ImageName]: input.imageName,
  };
  return spec;
}
