// Stop* and Remove* of what is already gone: the CRI (api.proto) asks them to be idempotent and
// kubelet retries them, so an id no record has is success, not NotFound (containerd answers
// StopPodSandbox, StopContainer, RemovePodSandbox and RemoveContainer so). docs/cri.md.
import { isKind, type Logger } from '../../common/index.js';

/** The CRI method asking, and the log key its id goes under. */
export interface IdUse { method: string; idKey: 'containerId' | 'podSandboxId' }

/**
 * The full id `ref` (an id or a unique prefix of one) names, or undefined when no record has it
 * (logged at debug). An empty or ambiguous `ref` stays an error.
 */
export function knownId(table: { resolveId(prefix: string): string }, ref: string, log: Pick<Logger, 'debug'>, use: IdUse): string | undefined {
  try {
    return table.resolveId(ref);
  } catch (err) {
    if (!isKind(err, 'not-found')) throw err;
    log.debug({ [use.idKey]: ref, method: use.method }, `${use.method}: no such id, nothing to do`);
    return undefined;
  }
}

/** True (logged at debug) when the record of `id` was removed while the caller waited for its lock. */
export function goneMeanwhile(table: { has(id: string): boolean }, id: string, log: Pick<Logger, 'debug'>, use: IdUse): boolean {
  if (table.has(id)) return false;
  log.debug({ [use.idKey]: id, method: use.method }, `${use.method}: removed meanwhile, nothing to do`);
  return true;
}
