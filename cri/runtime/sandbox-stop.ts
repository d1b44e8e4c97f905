// StopPodSandbox: every container stopped (SIGKILL), the pause task killed and its exit
// recorded (a pod without one lets go of its shim), then CNI DEL and the pod's namespaces unpinned. Idempotent: a stopped pod stops again
// quietly, an unknown or removed one is stopped (debug log); a teardown that failed is retried by
// the next stop (or by the restart's recovery).
import { faultPoint } from '../../common/index.js';
import { isSet, nowNanos } from '../store/index.js';
import { signalTask, stopContainer } from './container-stop.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { cleanupImageVolumes } from './image-volumes.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';
import { sandboxStopped } from './sandbox-events.js';
import { teardownNetwork } from './sandbox-network.js';
import { unpinPodNamespaces } from './sandbox-pauseless.js';

type Deps = Pick<RuntimeDeps, 'config' | 'store' | 'images' | 'tasks' | 'stops' | 'dirs' | 'locks' | 'log' | 'events' | 'network'>;

const PAUSE_KILL_WAIT_MS = 30_000;
const STOP: IdUse = { method: 'StopPodSandbox', idKey: 'podSandboxId' };

/** StopPodSandbox by id or unique prefix. */
export async function stopPodSandbox(deps: Deps, ref: string): Promise<void> {
  const id = knownId(deps.store.sandboxes, ref, deps.log, STOP);
  if (id === undefined) return;
  for (const c of deps.store.containersOf(id)) await stopContainer(deps, c.id, 0);
  faultPoint('stop-pod:containers-stopped');
  await deps.locks.run(id, async () => {
    if (goneMeanwhile(deps.store.sandboxes, id, deps.log, STOP)) return;
    if (deps.tasks.has(CRI_NAMESPACE, id)) {
      await signalTask(deps, id, 9);
      faultPoint('stop-pod:pause-killed');
      const stopped = () => !deps.store.sandboxes.has(id) || isSet(deps.store.sandboxes.get(id).stoppedAt);
      if (!(await deps.stops.wait(id, stopped, PAUSE_KILL_WAIT_MS))) deps.log.warn({ podSandboxId: id }, 'pause exit not recorded in time');
    }
    // A pod without a pause process lets go of its shim (it exits with its last task).
    if (deps.store.sandboxes.get(id).pauseless) await deps.tasks.stopPodShim(CRI_NAMESPACE, id);
    let changed = false;
    const cur = await deps.store.sandboxes.update(id, (r) => {
      if (isSet(r.stoppedAt)) return r;
      changed = true;
      return { ...r, pid: 0, stoppedAt: nowNanos() };
    });
    if (changed) sandboxStopped(deps, cur); // else the exit handler reported it
    faultPoint('stop-pod:stop-recorded');
    await teardownNetwork(deps, cur);
    await unpinPodNamespaces(deps, cur);
    await cleanupImageVolumes(deps, id);
    faultPoint('stop-pod:network-torn-down');
  });
}
