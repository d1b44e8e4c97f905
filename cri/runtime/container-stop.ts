// StopContainer: the container config's `stop_signal` when set, else the image's STOPSIGNAL, else
// SIGTERM (containerd 2.x's order); SIGKILL once `timeout` seconds pass (timeout 0: SIGKILL at
// once). Returns when the exit is recorded in the store. Idempotent: a container that is not
// running, or no longer exists (removed meanwhile, or never), is stopped.
import os from 'node:os';
import { DeadlineExceededError, InvalidArgumentError, isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri-wire.js';
import { containerState, isSet, type ContainerRecord } from '../store/index.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';

type Deps = Pick<RuntimeDeps, 'store' | 'images' | 'tasks' | 'stops' | 'locks' | 'log'>;

const KILL_WAIT_MS = 30_000;
const STOP: IdUse = { method: 'StopContainer', idKey: 'containerId' };

// glibc's real-time signal range as programs see it (the kernel's 32 and 33 are the C library's),
// the numbers moby's signal table (containerd's parser) gives RTMIN+n and RTMAX-n.
const SIGRTMIN = 34;
const SIGRTMAX = 64;
// Linux names Node's table lacks.
const ALIASES: Readonly<Record<string, number>> = { SIGCLD: os.constants.signals.SIGCHLD, SIGRTMIN, SIGRTMAX };

/**
 * A signal name ("SIGTERM", "TERM", "SIGRTMIN+3", "RTMAX-1") or number ("15") as a number;
 * SIGTERM when unset or unknown.
 */
export function parseSignal(s: string | undefined): number {
  if (!s) return os.constants.signals.SIGTERM;
  if (/^\d+$/.test(s)) return Number(s);
  const upper = s.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRT(MIN|MAX)([+-])(\d+)$/.exec(name);
  if (rt) {
    const n = rt[1] === 'MIN' && rt[2] === '+' ? SIGRTMIN + Number(rt[3]) : rt[1] === 'MAX' && rt[2] === '-' ? SIGRTMAX - Number(rt[3]) : NaN;
    return n >= SIGRTMIN && n <= SIGRTMAX ? n : os.constants.signals.SIGTERM;
  }
  return ALIASES[name] ?? os.constants.signals[name as keyof typeof os.constants.signals] ?? os.constants.signals.SIGTERM;
}

/**
 * The name of a CRI `Signal` value as an OCI stop signal ("SIGRTMINPLUS1" -> "SIGRTMIN+1"); ""
 * for RUNTIME_DEFAULT. A number the enum does not have is InvalidArgument (as containerd).
 */
export function criSignalName(value: number): string {
  if (value === runtime.v1.Signal.RUNTIME_DEFAULT) return '';
  const name = (runtime.v1.Signal as unknown as Record<number, string | undefined>)[value];
  if (typeof name !== 'string') throw new InvalidArgumentError(`unknown CRI stop signal ${value}`);
  return name.replace('PLUS', '+').replace('MINUS', '-');
}

/** The signal StopContainer sends first: the config's `stop_signal`, else the image's STOPSIGNAL, else SIGTERM. */
export function stopSignalOf(deps: Pick<Deps, 'images'>, c: Pick<ContainerRecord, 'config' | 'imageId'>): number {
  const configured = criSignalName(Number(c.config.stopSignal ?? 0));
  if (configured !== '') return parseSignal(configured);
  const img = deps.images.status(c.imageId);
  return parseSignal((img?.config.config as { StopSignal?: string } | undefined)?.StopSignal);
}

/**
 * Signals a task (SIGKILL: every process in it). A task gone meanwhile is not an error: its exit
 * is on its way, or was handled and the task deleted while the Kill was in flight (the last task
 * of a shim: the shim shut down and the Kill's reply never came).
 */
export async function signalTask(deps: Pick<Deps, 'tasks'>, id: string, sig: number): Promise<void> {
  if (!deps.tasks.has(CRI_NAMESPACE, id)) return;
  try {
    await deps.tasks.kill(CRI_NAMESPACE, id, sig, { all: sig === 9 });
  } catch (err) {
    if (!isKind(err, 'not-found') && deps.tasks.has(CRI_NAMESPACE, id)) throw err;
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
    const sig = stopSignalOf(deps, c);
    deps.log.info({ containerId: id, signal: sig, timeoutSec }, 'stopping container');
    await signalTask(deps, id, sig);
    if (await deps.stops.wait(id, stopped, timeoutSec * 1000)) return;
  }
  await signalTask(deps, id, 9);
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
