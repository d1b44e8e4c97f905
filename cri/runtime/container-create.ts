// CreateContainer: reserve the name -> rw rootfs snapshot -> OCI spec (written beside the
// container's state) -> record (CREATED). The task itself is made by StartContainer, as in
// containerd. Any failure undoes the earlier steps.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CleanupStack, FailedPreconditionError, InvalidArgumentError, faultPoint, joinWithin } from '../../common/index.js';
import type { runtime } from '../../proto/cri-wire.js';
import { appliedResources, containerSpec, type CriContainerConfig, type CriPodSandboxConfig } from '../oci/index.js';
import { RECORD_VERSION, makeContainerName, nowNanos, sandboxState, type ContainerRecord } from '../store/index.js';
import { plainContainerConfig, plainSandboxConfig, sandboxNamespaceOptions } from './convert.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { handlerFeatures, hostInfo, hostProfilesLoaded, taskRuntime } from './handler.js';
import { imageRecord, ociImageConfig, withRootfsView } from './image-resolve.js';
import { prepareImageVolumes } from './image-defined-volumes.js';
import { resolveImageVolumes, type CriImageMount } from './image-volumes.js';
import { releaseRecursiveReadOnly, stageRecursiveReadOnly } from './rro-mounts.js';
import { sandboxFiles } from './sandbox-files.js';
import { idmappedLayers, idmapVolumes, podUserns, usernsPath } from './userns.js';
import { containerEvent } from './sandbox-events.js';
import { podNamespacesOf } from './sandbox-pauseless.js';
import { checkLogDirectory, newId } from './sandbox-run.js';

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'dirs' | 'log' | 'events'>;

const NODE = 2;

export const containerDir = (dirs: { root: string }, id: string): string => joinWithin(dirs.root, 'containers', id);
export const containerSpecPath = (dirs: { root: string }, id: string): string => path.join(containerDir(dirs, id), 'config.json');

/**
 * `<log_directory>/<log_path>` (containerd: no log unless both are set). The directory must be
 * absolute and the path must stay inside it; joinWithin refuses `..` that climbs out (docs/security.md).
 */
function containerLogPath(logDirectory: unknown, logPath: unknown): string {
  const dir = typeof logDirectory === 'string' ? logDirectory : '';
  const rel = typeof logPath === 'string' ? logPath : '';
  if (dir === '' || rel === '') return '';
  checkLogDirectory(dir);
  return joinWithin(dir, rel);
}

const withPinned = (p: ReturnType<typeof podNamespacesOf>) => (p ? { podNamespaces: p } : {});

export async function createContainer(deps: Deps, req: runtime.v1.CreateContainerRequest): Promise<{ containerId: string }> {
  const sandboxId = deps.store.sandboxes.resolveId(req.podSandboxId ?? '');
  const sandbox = deps.store.sandboxes.get(sandboxId);
  if (sandboxState(sandbox) !== 'SANDBOX_READY') throw new FailedPreconditionError(`sandbox ${sandboxId} is not ready`);
  const config = plainContainerConfig(req.config);
  const md = config.metadata as { name?: string; attempt?: number } | undefined;
  if (!md?.name) throw new InvalidArgumentError('container config must include metadata with a name');
  const logPath = containerLogPath(sandbox.config.logDirectory, config.logPath);
  const imageRef = String((config.image as { image?: string } | undefined)?.image ?? '');
  const image = imageRecord(deps.images, imageRef);
  const id = newId();
  const log = deps.log.child({ podSandboxId: sandboxId, containerId: id });
  const name = makeContainerName({ name: md.name, attempt: md.attempt ?? 0 }, sandbox.metadata);
  const undo = new CleanupStack();
  try {
    await deps.store.containerNames.reserve(name, id);
    undo.push(`release container name ${name}`, () => deps.store.containerNames.release(name));
    faultPoint('create-container:name-reserved');
    const rootfs = await deps.images.prepareRootfs(id, image.id);
    undo.push(`remove rootfs ${id}`, () => deps.images.removeRootfs(id));
    faultPoint('create-container:rootfs-prepared');
    const sandboxConfig = req.sandboxConfig ? plainSandboxConfig(req.sandboxConfig) : sandbox.config;
    const ns = sandboxNamespaceOptions(sandbox);
    const rt = taskRuntime(deps.config, sandbox.runtimeHandler);
    const userns = podUserns(sandbox.config);
    const layers = userns ? (dirs: string[]) => idmappedLayers(deps.dirs, sandboxId, dirs) : undefined;
    const imageMounts = await resolveImageVolumes(deps, sandboxId, (config.mounts ?? []) as unknown as CriImageMount[], layers);
    const mounts = await idmapVolumes(deps.dirs, sandboxId, userns, imageMounts);
    const dir = containerDir(deps.dirs, id);
    undo.push(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const imageConfig = ociImageConfig(image);
    const criConfig = { ...config, mounts } as CriContainerConfig;
    await hostProfilesLoaded();
    const spec = await withRootfsView(rootfs, deps.dirs.state, async (root) => containerSpec({
      id, sandboxId, sandboxPid: sandbox.pid, ...withPinned(podNamespacesOf(sandbox)), config: criConfig, sandboxConfig: sandboxConfig as CriPodSandboxConfig,
      imageConfig, imageName: imageRef, rootfs: root, sandboxFiles: sandboxFiles(deps.dirs, sandboxId, ns.ipc === NODE),
      imageVolumes: deps.config.ignoreImageDefinedVolumes ? [] : await prepareImageVolumes(root, imageConfig.Volumes, criConfig.mounts ?? [], dir, log, userns),
      namespace: CRI_NAMESPACE, runtime: { ...rt.handler, recursiveReadOnlyMounts: handlerFeatures(rt.handler.runtimeType).recursiveReadOnlyMounts === true },
      host: hostInfo(deps.config), log, ...(userns ? { usernsPath: usernsPath(deps.dirs, sandboxId) } : {}),
    }));
    undo.push(`release recursive read-only mounts of ${id}`, () => releaseRecursiveReadOnly(deps.dirs, id));
    const staged = await stageRecursiveReadOnly(deps.dirs, id, spec, log);
    await writeFile(containerSpecPath(deps.dirs, id), JSON.stringify(staged));
    faultPoint('create-container:dir-made');
    const record: ContainerRecord = {
      v: RECORD_VERSION, id, sandboxId, metadata: { name: md.name, attempt: md.attempt ?? 0 }, config, imageRef, imageId: image.id,
      logPath, createdAt: nowNanos(), pid: 0, resources: { ...appliedResources(staged) },
      user: { uid: staged.process.user.uid, gid: staged.process.user.gid, supplementalGroups: [...(staged.process.user.additionalGids ?? [])] },
    };
    const created = await deps.store.containers.create(record);
    undo.release();
    faultPoint('create-container:record-created');
    log.info({ name, image: image.id }, 'container created');
    containerEvent(deps, created, 'created');
    return { containerId: id };
  } catch (err) {
    await undo.unwind(log, { timeoutMs: 10_000 });
    throw err;
  }
}
