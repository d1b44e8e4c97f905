// StopContainer: the image's STOPSIGNAL (default SIGTERM), SIGKILL once `timeout` seconds pass
// (timeout 0: SIGKILL at once). Returns when the exit is recorded in the store. Idempotent: a
// container that is not running, or no longer exists (removed meanwhile, or never), is stopped.
import os from 'node:os';
import { DeadlineExceededError, isKind } from '../../common/index.js';
import { taskKey } from '../../taskmanager/index.js';
import { containerState, isSet, type ContainerRecord } from '../store/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';

type Deps = Pick<RuntimeDeps, 'store' | 'images' | 'tasks' | 'stops' | 'locks' | 'log'>;

const KILL_WAIT_MS = 30_000;
const STOP: IdUse = { method: 'StopContainer', idKey: 'containerId' };

/** A signal name ("SIGTERM", "TERM") or number ("15") as a number; SIGTERM when unset or unknown. */
export function parseSignal(s: string | undefined): number {
  if (!s) return os.constants.signals.SIGTERM;
  if (/^\d+$/.test(s)) return Number(s);
  const name = (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as keyof typeof os.constants.signals;
  return os.constants.signals[name] ?? os.constants.signals.SIGTERM;
}

function stopSignal(deps: Pick<Deps, 'images'>, c: ContainerRecord): number {
  const img = deps.images.status(c.imageId);
  return parseSignal((img?.config.config as { StopSignal?: string } | undefined)?.StopSignal);
}

async function signal(deps: Pick<Deps, 'tasks'>, id: string, sig: number): Promise<void> {
  if (!deps.tasks.tasks.has(taskKey(CRI_NAMESPACE, id))) return;
  try {
    await deps.tasks.kill(CRI_NAMESPACE, id, sig, { all: sig === 9 });
  } catch (err) {
    if (!isKind(err, 'not-found')) throw err; // already gone: its exit is on its way
  }
}

/** Stops a container by full id; the caller holds its lock. A record removed meanwhile is stopped. */
export async function stopContainerLocked(deps: Deps, id: string, timeoutSec: number): Promise<void> {
  if (goneMeanwhile(deps.store.containers, id, deps.log, STOP)) return;
  const c = deps.store.containers.get(id);
  const state = containerState(c);
  if (state !== 'CONTAINER_RUNNING' && state !== 'CONTAINER_UNKNOWN') return;
  const stopped = () => !deps.store.containers.has(id) || isSet(deps.store.containers.get(id).finishedAt);
  if (timeoutSec > 0) {
    const sig = stopSignal(deps, c);
    deps.log.info({ containerId: id, signal: sig, timeoutSec }, 'stopping container');
    await signal(deps, id, sig);
    if (await deps.stops.wait(id, stopped, timeoutSec * 1000)) return;
  }
  await signal(deps, id, 9);
  if (!(await deps.stops.wait(id, stopped, KILL_WAIT_MS))) {
    throw new DeadlineExceededError(`container ${id} did not exit within ${KILL_WAIT_MS / 1000}s of SIGKILL`);
  }
}

/** StopContainer by id or unique prefix; an unknown one is already stopped. */
export async function stopContainer(deps: Deps, ref: string, timeoutSec: number): Promise<void> {
  const id = knownId(deps.store.containers, ref, deps.log, STOP);
  if (id === undefined) return;
  await deps.locks.run(id, () => stopContainerLocked(deps, id, timeoutSec));
}
