// RunPodSandbox for a pod with a pause process (a pod without one: sandbox-pauseless.ts, which
// takes over after the record): reserve the name -> record (stage created) -> netns -> CNI ADD (POD network),
// and meanwhile sandbox image -> pod files and pause rootfs (side by side) -> spec -> task
// create + start in the pod's shim -> (network done) -> READY. The stage is written before each
// step's side effect, so a restart knows what may be half done ('task' may have CNI ADD still in
// flight: recovery tears down the network of every pod that is not 'complete'); any failure
// unwinds every earlier step (CleanupStack, own deadline per step), the network only once its
// ADD has settled. Where the time goes is kept as the record's `timings` (common/phase-clock.ts).
import path from 'node:path';
import { CleanupStack, faultPoint, InvalidArgumentError, PhaseClock, randomBytes, settleAll } from '../../common/index.js';
import type { runtime } from '../../proto/cri-wire.js';
import { createNetns, netnsPath, removeNetns } from '../network/index.js';
import { sandboxSpec, type PodUserns } from '../oci/index.js';
import {
  RECORD_VERSION, makeSandboxName, nowNanos, type SandboxRecord, type SandboxStage,
} from '../store/index.js';
import { plainSandboxConfig, sandboxNamespaceOptions } from './convert.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { hostInfo, hostProfilesLoaded, taskRuntime } from './handler.js';
import { ensureSandboxImage, ociImageConfig, taskMounts, withRootfsView } from './image-resolve.js';
import { removeSandboxFiles, setupSandboxFiles } from './sandbox-files.js';
import { setupNetwork } from './sandbox-network.js';
import { sandboxStarted } from './sandbox-events.js';
import { pauselessRecordFields, runsPauseless, setUpPauselessPod } from './sandbox-pauseless.js';
import { createPodUserns, idmapRootfs, podUserns, removePodUserns, usernsPath } from './userns.js';

type PlainSandboxConfig = ReturnType<typeof plainSandboxConfig>;

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'tasks' | 'logs' | 'dirs' | 'locks' | 'log' | 'events' | 'network'>;

const NODE = 2; // runtime.v1.NamespaceMode.NODE

export function newId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * A pod's log directory is absolute (kubelet sends /var/log/pods/<ns>_<name>_<uid>): a relative
 * one would resolve against the daemon's working directory (docs/security.md).
 */
export function checkLogDirectory(dir: unknown): void {
  if (typeof dir === 'string' && dir !== '' && !path.isAbsolute(dir)) {
    throw new InvalidArgumentError(`log_directory ${JSON.stringify(dir)} is not an absolute path`);
  }
}

/**
 * The pod's sysctls plus what `enable_unprivileged_ports` / `enable_unprivileged_icmp` add, as
 * containerd does: only for a pod with its own network namespace, never over a value the pod
 * config sets itself (docs/config.md).
 */
export function withUnprivilegedSysctls(
  cfg: Pick<RuntimeDeps['config'], 'enableUnprivilegedPorts' | 'enableUnprivilegedIcmp'>, config: PlainSandboxConfig, hostNetwork: boolean,
  userns?: PodUserns,
): PlainSandboxConfig {
  if (hostNetwork || (!cfg.enableUnprivilegedPorts && !cfg.enableUnprivilegedIcmp)) return config;
  const linux = (config.linux ?? {}) as { sysctls?: Record<string, string> | null };
  const sysctls = { ...(linux.sysctls ?? {}) };
  if (cfg.enableUnprivilegedPorts && !Object.hasOwn(sysctls, 'net.ipv4.ip_unprivileged_port_start')) {
    sysctls['net.ipv4.ip_unprivileged_port_start'] = '0';
  }
  if (cfg.enableUnprivilegedIcmp && !Object.hasOwn(sysctls, 'net.ipv4.ping_group_range')) {
    // In a user namespace the range may only name mapped gids (the kernel refuses others: EINVAL).
    sysctls['net.ipv4.ping_group_range'] = userns ? `0 ${userns.gid.length - 1}` : '0 2147483647';
  }
  return { ...config, linux: { ...linux, sysctls } };
}

export async function runPodSandbox(deps: Deps, req: runtime.v1.RunPodSandboxRequest): Promise<{ podSandboxId: string }> {
  const config = plainSandboxConfig(req.config);
  const md = config.metadata as { name?: string; uid?: string; namespace?: string; attempt?: number } | undefined;
  if (!md?.name) throw new InvalidArgumentError('sandbox config must include metadata with a name');
  const metadata = { name: md.name, uid: md.uid ?? '', namespace: md.namespace ?? '', attempt: md.attempt ?? 0 };
  checkLogDirectory(config.logDirectory);
  const userns = podUserns(config);
  const rt = taskRuntime(deps.config, req.runtimeHandler ?? '');
  const id = newId();
  const log = deps.log.child({ podSandboxId: id, pod: `${metadata.namespace}/${metadata.name}` });
  const name = makeSandboxName(metadata);
  const undo = new CleanupStack();
  const clock = new PhaseClock();
  try {
    await clock.time('lock', () => deps.store.sandboxNames.reserve(name, id));
    undo.push(`release sandbox name ${name}`, () => deps.store.sandboxNames.release(name));
    faultPoint('run-pod:name-reserved');
    return await deps.locks.run(id, async () => {
      let record: SandboxRecord = {
        v: RECORD_VERSION, id, metadata, config, runtimeHandler: rt.handler.handler, createdAt: nowNanos(), stage: 'created',
        pid: 0, netnsPath: '', ip: '', additionalIps: [],
      };
      const ns = sandboxNamespaceOptions(record);
      // A pod in a user namespace keeps its pause process: its netns must be owned by the pod's
      // user namespace, which the pause path makes (docs/cri.md "Pods without a pause process").
      const pauseless = !userns && runsPauseless(deps.config, ns);
      if (pauseless) record = { ...record, ...pauselessRecordFields(deps.config, id, ns) };
      await clock.time('store', () => deps.store.sandboxes.create(record));
      undo.push(`delete sandbox record ${id}`, () => deps.store.sandboxes.delete(id));
      faultPoint('run-pod:record-created');
      const stage = (s: SandboxStage, extra: Partial<SandboxRecord> = {}) => deps.store.sandboxes.update(id, (r) => ({ ...r, ...extra, stage: s }));
      const ready = async (pid: number, logged: object, extra: Partial<SandboxRecord> = {}) => {
        // The breakdown (verbose PodSandboxStatus "timings") is kept with the ready record; its
        // total stops just before that last write.
        const timings = clock.snapshot();
        const done = await deps.store.sandboxes.update(id, (r) => ({ ...r, ...extra, stage: 'complete', pid, readyAt: nowNanos(), timings }));
        undo.release();
        faultPoint('run-pod:ready');
        log.info({ pid, ...logged }, 'pod sandbox ready');
        sandboxStarted(deps, done);
        return { podSandboxId: id };
      };

      if (pauseless) {
        const specConfig = withUnprivilegedSysctls(deps.config, config, ns.network === NODE);
        const pod = await setUpPauselessPod(deps, { id, metadata, config, specConfig, ns, rt, clock, undo, log });
        return await ready(0, { shimPid: pod.shimPid }, { ip: pod.ip, additionalIps: pod.additionalIps });
      }
      let netns = '';
      let network: Promise<void> | undefined;
      let netnsReady: Promise<void> = Promise.resolve();
      if (ns.network !== NODE) {
        netns = netnsPath(deps.config.state, id);
        await clock.time('store', () => stage('netns', { netnsPath: netns }));
        // The netns and then CNI ADD are made while the pause rootfs, spec and task are (the
        // pause process only joins the netns, at create; nothing before READY needs the IP). A
        // failed step undoes itself; a daemon killed meanwhile is undone by recoverNetworks (only
        // 'complete' pods keep a network).
        let made = false;
        // A pod in a user namespace gets a netns owned by it, made with it (userns.ts).
        if (userns) undo.push(`remove user namespace of ${id}`, () => removePodUserns(deps.dirs, id));
        const makeNetns = async (): Promise<void> => {
          if (userns) await createPodUserns(deps.dirs, id, userns, netns, log);
          else await createNetns(netns);
        };
        netnsReady = clock.time('netns', makeNetns).then(async () => {
          made = true;
          faultPoint('run-pod:netns-made');
          await clock.time('store', () => stage('network'));
        });
        const nsPending = netnsReady;
        nsPending.catch(() => undefined); // awaited below, or by the undo steps
        undo.push(`remove netns ${netns}`, async () => {
          await nsPending.catch(() => undefined);
          if (made) await removeNetns(netns);
        });
        let added = false;
        network = nsPending.then(() => clock.time('cni add', () => setupNetwork(deps, id, metadata, netns, config))).then(async (net) => {
          added = true;
          faultPoint('run-pod:network-added');
          await clock.time('store', () => deps.store.sandboxes.update(id, (r) => ({ ...r, ip: net.ip, additionalIps: [...net.additionalIps] })));
          log.info({ ip: net.ip, additionalIps: net.additionalIps }, 'pod network ready');
        });
        const pending = network;
        pending.catch(() => undefined);
        undo.push(`tear down pod network of ${id}`, async () => {
          await pending.catch(() => undefined);
          if (added) await deps.network.teardownPodNetwork({ id }, { removeNetns: false });
        });
      }

      const image = await clock.time('image', () => ensureSandboxImage(deps.images, deps.config.sandboxImage, log));
      // The pod's files and the pause rootfs are independent: made side by side, and both
      // settled before anything is undone (an undo never races its own step).
      undo.push(`remove sandbox files of ${id}`, () => removeSandboxFiles(deps.dirs, id));
      undo.push(`remove pause rootfs ${id}`, () => deps.images.removeRootfs(id));
      const [files, rootfs] = await settleAll([
        clock.time('pod files', () => setupSandboxFiles(deps.dirs, id, config, { hostIpc: ns.ipc === NODE })),
        clock.time('snapshot', () => deps.images.prepareRootfs(id, image.id)),
      ]);
      faultPoint('run-pod:rootfs-prepared');
      const specConfig = withUnprivilegedSysctls(deps.config, config, ns.network === NODE, userns);
      let taskRootfs = rootfs;
      if (userns) {
        await clock.time('wait netns', () => netnsReady); // the pinned user namespace comes with it
        taskRootfs = await clock.time('idmap', () => idmapRootfs(deps.dirs, id, userns, rootfs));
      }
      await hostProfilesLoaded();
      const spec = await clock.time('spec', () => withRootfsView(rootfs, deps.dirs.state, (root) => sandboxSpec({
        id, config: specConfig, imageConfig: ociImageConfig(image), rootfs: root, ...(netns ? { netnsPath: netns } : {}), sandboxFiles: files,
        ...(userns ? { usernsPath: usernsPath(deps.dirs, id) } : {}),
        namespace: CRI_NAMESPACE, runtime: rt.handler, host: hostInfo(deps.config), log,
      })));

      faultPoint('run-pod:spec-made');
      await clock.time('wait netns', () => netnsReady); // runc create joins it
      await clock.time('store', () => stage('task'));
      const task = await deps.tasks.createTask({
        namespace: CRI_NAMESPACE, id, runtime: rt.runtime, spec, rootfs: taskMounts(taskRootfs), ...(rt.options ? { options: rt.options } : {}), clock,
      });
      undo.push(`delete pause task ${id}`, async () => {
        await deps.tasks.kill(CRI_NAMESPACE, id, 9).catch(() => undefined);
        await deps.tasks.delete(CRI_NAMESPACE, id);
      });
      deps.logs.open(id, '', task); // the pause output is read and dropped, so its pipe never fills
      faultPoint('run-pod:task-created');
      const pid = await clock.time('task start', () => deps.tasks.start(CRI_NAMESPACE, id));
      faultPoint('run-pod:task-started');
      await clock.time('wait network', () => network);
      return await ready(pid, { image: image.id });
    });
  } catch (err) {
    log.warn({ err }, 'RunPodSandbox failed: undoing');
    deps.logs.get(id)?.close();
    await undo.unwind(log, { timeoutMs: 10_000 });
    throw err;
  }
}
