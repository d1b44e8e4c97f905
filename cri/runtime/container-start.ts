// StartContainer: only from CREATED, in a READY pod. Creates the task in the pod's shim with the
// spec CreateContainer wrote, starts logging its output, starts it. A failure records the
// container as EXITED with 128 / StartError, as containerd does.
import { readFile } from 'node:fs/promises';
import { CleanupStack, FailedPreconditionError, PhaseClock, faultPoint } from '../../common/index.js';
import { containerState, nowNanos, sandboxState } from '../store/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { containerSpecPath } from './container-create.js';
import { taskRuntime } from './handler.js';
import { taskMounts } from './image-resolve.js';
import { releaseRecursiveReadOnly } from './rro-mounts.js';
import { containerEvent } from './sandbox-events.js';
import { idmapRootfs, podUserns } from './userns.js';

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'tasks' | 'logs' | 'dirs' | 'locks' | 'starting' | 'log' | 'events'>;

export function startContainer(deps: Deps, id: string): Promise<void> {
  return deps.locks.run(id, () => deps.starting.run(id, () => startLocked(deps, id)));
}

async function startLocked(deps: Deps, id: string): Promise<void> {
  const c = deps.store.containers.get(id);
  const state = containerState(c);
  if (state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${id} is in ${state} state, not CONTAINER_CREATED`);
  const sandbox = deps.store.sandboxes.get(c.sandboxId);
  if (sandboxState(sandbox) !== 'SANDBOX_READY') throw new FailedPreconditionError(`sandbox ${sandbox.id} of container ${id} is not running`);
  const log = deps.log.child({ podSandboxId: sandbox.id, containerId: id });
  const undo = new CleanupStack();
  const clock = new PhaseClock();
  const releaseStaged = () => releaseRecursiveReadOnly(deps.dirs, id)
    .catch((e: unknown) => log.warn({ err: e }, 'releasing the staged recursive read-only mounts failed'));
  try {
    const spec = await clock.time('spec', async () => JSON.parse(await readFile(containerSpecPath(deps.dirs, id), 'utf8')) as unknown);
    const rt = taskRuntime(deps.config, sandbox.runtimeHandler);
    const userns = podUserns(sandbox.config);
    const rootfs = userns ? await idmapRootfs(deps.dirs, sandbox.id, userns, deps.images.rootfsMounts(id)) : deps.images.rootfsMounts(id);
    const task = await deps.tasks.createTask({
      namespace: CRI_NAMESPACE, id, runtime: rt.runtime, spec, rootfs: taskMounts(rootfs),
      terminal: c.config.tty === true, stdin: c.config.stdin === true, ...(rt.options ? { options: rt.options } : {}), clock,
    });
    undo.push(`delete task ${id}`, async () => {
      await deps.tasks.kill(CRI_NAMESPACE, id, 9).catch(() => undefined);
      await deps.tasks.delete(CRI_NAMESPACE, id);
    });
    deps.logs.open(id, c.logPath, task);
    undo.push(`close log of ${id}`, () => deps.logs.get(id)?.close());
    faultPoint('start-container:task-created');
    const pid = await clock.time('task start', () => deps.tasks.start(CRI_NAMESPACE, id));
    faultPoint('start-container:task-started');
    // The breakdown (verbose ContainerStatus "timings"); its total stops before this write.
    const timings = clock.snapshot();
    const started = await deps.store.containers.update(id, (r) => ({ ...r, pid, startedAt: nowNanos(), timings }));
    undo.release();
    faultPoint('start-container:record-updated');
    // runc has bound its copies into the container: the staged rro trees are done with. Only now,
    // once the record says RUNNING: a CREATED container (a restart may find one whose task was
    // only created) still needs them for the next start.
    await releaseStaged();
    log.info({ pid }, 'container started');
    containerEvent(deps, started, 'started');
  } catch (err) {
    await undo.unwind(log, { timeoutMs: 10_000 });
    await releaseStaged();
    const message = err instanceof Error ? err.message : String(err);
    await deps.store.containers.update(id, (r) => ({ ...r, pid: 0, finishedAt: nowNanos(), exitCode: 128, reason: 'StartError', message }));
    throw err;
  }
}
