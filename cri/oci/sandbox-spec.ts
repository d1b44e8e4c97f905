// RunPodSandbox's OCI spec for the pause container (containerd's sandboxContainerSpec and
// sandboxContainerSpecOpts, pkg/cri/server/sandbox_run_linux.go).
import { InvalidArgumentError, silentLogger } from '../../common/index.js';
import { Annotation, passthroughAnnotations } from './annotations.js';
import { cgroupsPath, usesSystemdCgroup, type RuntimeHandlerOptions } from './container-spec.js';
import { baseSpec } from './default-spec.js';
import { readHostInfo, type HostInfo } from './host-info.js';
import { applySandboxNamespaces, readModes } from './namespaces.js';
import { applyUserns, keepLockedFlags, checkPodUserns, readUserns } from './userns.js';
import { mergeEnv } from './process.js';
import { readResources, restrictOomScoreAdj } from './resources.js';
import { applySelinuxOptions, chooseProfile, seccompFor, type SpecLog } from './security.js';
import { validateSysctls } from './sysctls.js';
import type { CriPodSandboxConfig, ImageConfig, OciMount, OciSpec } from './types.js';
import { buildUser, criUserString } from './user.js';
import { NamespaceMode } from './values.js';

/** containerd's defaultSandboxOOMAdj: the pause container is the last thing to kill. */
export const SANDBOX_OOM_SCORE_ADJ = -998;
/** containerd's DefaultSandboxCPUshares. */
export const SANDBOX_CPU_SHARES = 2;
export const DEFAULT_PAUSE_ARGS: readonly string[] = ['/pause'];

export interface SandboxSpecInput {
  id: string;
  config: CriPodSandboxConfig;
  /** The pause image's config; its Entrypoint + Cmd are the process args. */
  imageConfig: ImageConfig;
  /** Args when the image has no Entrypoint or Cmd (a locally built pause image). */
  defaultArgs?: readonly string[];
  /** Host path of the pause rootfs, for a user given by name (optional). */
  rootfs?: string;
  /** The pod network namespace (a pinned netns path); ignored for host-network pods. */
  netnsPath?: string;
  /** The pod's pinned user namespace, when its config asks for one (POD mode). */
  usernsPath?: string;
  /** Host paths of the pod's files; each given one is bound read-only. */
  sandboxFiles?: { devShmPath?: string; resolvConfPath?: string; hostsPath?: string; hostnamePath?: string };
  namespace?: string;
  runtime?: RuntimeHandlerOptions;
  host?: HostInfo;
  /** Where what the host cannot apply and is ignored is logged (debug); bind the pod's id to it. */
  log?: SpecLog;
}

export function sandboxSpec(input: SandboxSpecInput): OciSpec {
  const host = input.host ?? readHostInfo();
  const { config, imageConfig } = input;
  const sc = config.linux?.securityContext ?? {};
  const modes = readModes(sc.namespaceOptions, 'namespace_options', 'pod');
  const spec = baseSpec(input.namespace ?? 'k8s.io', input.id);

  spec.process.env = mergeEnv(spec.process.env ?? [], imageConfig.Env ?? []);
  spec.root.readonly = true;
  // runc cannot set a hostname without its own UTS namespace: a host-network pod keeps the host's.
  if (config.hostname && modes.network !== NamespaceMode.NODE) spec.hostname = config.hostname;
  if (imageConfig.WorkingDir) spec.process.cwd = imageConfig.WorkingDir;
  let args = [...(imageConfig.Entrypoint ?? []), ...(imageConfig.Cmd ?? [])];
  if (args.length === 0) args = [...(input.defaultArgs ?? DEFAULT_PAUSE_ARGS)];
  spec.process.args = args;

  const systemd = usesSystemdCgroup(input.runtime);
  if (config.linux?.cgroupParent || systemd) spec.linux.cgroupsPath = cgroupsPath(config.linux?.cgroupParent ?? '', input.id, systemd);
  applySandboxNamespaces(spec, modes, input.netnsPath);
  const userns = readUserns(sc.namespaceOptions, 'namespace_options');
  checkPodUserns(userns, modes, 'namespace_options');
  if (userns) {
    if (!input.usernsPath) throw new InvalidArgumentError('namespace_options.userns_options: no pinned user namespace was given for the pod');
    applyUserns(spec, userns, input.usernsPath);
  }

  const files = input.sandboxFiles ?? {};
  const ro = (destination: string, source: string | undefined): OciMount[] =>
    source ? [{ destination, type: 'bind', source, options: ['rbind', 'ro'] }] : [];
  const devShm = modes.ipc === NamespaceMode.NODE ? '/dev/shm' : files.devShmPath;
  const binds = [
    ...ro('/dev/shm', devShm), ...ro('/etc/resolv.conf', files.resolvConfPath),
    ...ro('/etc/hosts', files.hostsPath), ...ro('/etc/hostname', files.hostnamePath),
  ];
  spec.mounts = [...spec.mounts.filter((m) => !binds.some((b) => b.destination === m.destination)), ...binds];
  if (userns) keepLockedFlags(spec, host);

  applySelinuxOptions(sc.selinuxOptions, 'pod security_context', host, input.log ?? silentLogger);
  const sysctls = validateSysctls(config.linux?.sysctls, {
    hostNetwork: modes.network === NamespaceMode.NODE, hostIpc: modes.ipc === NamespaceMode.NODE,
  });
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = sysctls;

  spec.linux.resources = { ...(spec.linux.resources ?? {}), cpu: { shares: SANDBOX_CPU_SHARES } };
  spec.process.oomScoreAdj = restrictOomScoreAdj(SANDBOX_OOM_SCORE_ADJ, host.oomScoreAdj);

  const userstr = criUserString('', sc.runAsUser, sc.runAsGroup) || imageConfig.User || '';
  if (userstr.split(':').some((p) => p !== '' && !/^\d+$/.test(p)) && !input.rootfs) {
    throw new InvalidArgumentError(`pause image user ${JSON.stringify(userstr)} names a user but no rootfs was given to look it up`);
  }
  spec.process.user = buildUser(input.rootfs ?? '/nonexistent-rootfs', userstr, sc.supplementalGroups, sc.supplementalGroupsPolicy);

  const seccompChoice = chooseProfile(sc.seccomp, sc.seccompProfilePath, 'seccomp', 'seccomp_profile_path');
  const seccomp = seccompFor(seccompChoice, sc.privileged === true, spec.process.capabilities?.bounding ?? []);
  if (seccomp) spec.linux.seccomp = seccomp;

  const annotations: Record<string, string> = { ...passthroughAnnotations(config.annotations, input.runtime?.podAnnotations) };
  const res = config.linux?.resources;
  if (res) {
    const v = readResources(res);
    annotations[Annotation.SandboxCpuPeriod] = String(v.period);
    annotations[Annotation.SandboxCpuQuota] = String(v.quota);
    annotations[Annotation.SandboxCpuShares] = String(v.shares);
    annotations[Annotation.SandboxMemory] = String(v.memory);
  }
  spec.annotations = {
    ...annotations,
    [Annotation.ContainerType]: 'sandbox',
    [Annotation.SandboxId]: input.id,
    [Annotation.SandboxNamespace]: config.metadata?.namespace ?? '',
    [Annotation.SandboxUid]: config.metadata?.uid ?? '',
    [Annotation.SandboxName]: config.metadata?.name ?? '',
    [Annotation.SandboxLogDir]: config.logDirectory ?? '',
  };
  return spec;
}
