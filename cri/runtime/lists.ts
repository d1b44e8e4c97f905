// ListPodSandbox and ListContainers with the CRI filters: id (full or unique prefix), state,
// pod sandbox id, label selector.
//
// kubelet asks the same lists every second (PLEG relist) and they rarely change in between: each
// answer is kept per filter until a record of the tables it read changes (their generation), as
// one frozen array, so the reply's encoding is cached too (proto/encode-cache.ts).
import { isKind } from '../../common/index.js';
import type { runtime } from '../../proto/cri-wire.js';
import { labelsOf, matchesLabels, type ContainerRecord, type RecordTable, type SandboxRecord } from '../store/index.js';
import { containerMessage, containerStateOf, sandboxMessage, sandboxStateOf } from './convert.js';
import type { RuntimeDeps } from './deps.js';

type Deps = Pick<RuntimeDeps, 'store'>;

/** The full id a filter prefix names, or null when it names none (an ambiguous prefix matches none too). */
function filterId<T extends SandboxRecord | ContainerRecord>(table: RecordTable<T>, prefix: string | null | undefined): string | null | undefined {
  if (!prefix) return undefined;
  try {
    return table.resolveId(prefix);
  } catch (err) {
    if (isKind(err, 'not-found') || isKind(err, 'invalid-argument')) return null;
    throw err;
  }
}

export function listPodSandbox(deps: Deps, f: runtime.v1.PodSandboxFilter.$Properties | null | undefined): readonly runtime.v1.PodSandbox.$Properties[] {
  const { sandboxes } = deps.store;
  return remembered(sandboxes, `s${filterKey(f?.id, undefined, f?.state, f?.labelSelector)}`, String(sandboxes.generation), () => {
    const id = filterId(sandboxes, f?.id);
    if (id === null) return [];
    return sandboxes.list((s) =>
      (id === undefined || s.id === id)
      && (!f?.state || sandboxStateOf(s) === f.state.state)
      && matchesSelector(s, f?.labelSelector)).map(sandboxMessage);
  });
}

export function listContainers(deps: Deps, f: runtime.v1.ContainerFilter.$Properties | null | undefined): readonly runtime.v1.Container.$Properties[] {
  const { containers, sandboxes } = deps.store;
  // A pod id prefix is resolved among the sandboxes: their changes count too.
  const generation = `${containers.generation}/${sandboxes.generation}`;
  return remembered(containers, `c${filterKey(f?.id, f?.podSandboxId, f?.state, f?.labelSelector)}`, generation, () => {
    const id = filterId(containers, f?.id);
    const podId = filterId(sandboxes, f?.podSandboxId);
    if (id === null || podId === null) return [];
    const from = podId !== undefined ? deps.store.containersOf(podId) : containers.list();
    return from.filter((c) =>
      (id === undefined || c.id === id)
      && (!f?.state || containerStateOf(c) === f.state.state)
      && matchesSelector(c, f?.labelSelector)).map(containerMessage);
  });
}

/** Answers kept per table and filter; a table keeps at most this many filters (kubelet uses a few). */
const MAX_REMEMBERED = 64;
const answers = new WeakMap<object, Map<string, { generation: string; items: readonly object[] }>>();

function remembered<T extends object>(table: object, key: string, generation: string, compute: () => T[]): readonly T[] {
  let byKey = answers.get(table);
  if (!byKey) answers.set(table, (byKey = new Map()));
  const hit = byKey.get(key);
  if (hit && hit.generation === generation) return hit.items as readonly T[];
  const items = Object.freeze(compute());
  byKey.delete(key);
  if (byKey.size >= MAX_REMEMBERED) byKey.delete(byKey.keys().next().value!);
  byKey.set(key, { generation, items });
  return items;
}

/**
 * A filter as a string: equal strings for equal filters (selector keys in order). The state is
 * keyed as the match reads it: no state filter, or the value it compares (undefined included).
 */
function filterKey(id: string | null | undefined, podId: string | null | undefined, state: { state?: number | null } | null | undefined, selector: Record<string, string> | null | undefined): string {
  const sel = selector ? Object.keys(selector).sort().map((k) => [k, selector[k]]) : [];
  return JSON.stringify([id ?? '', podId ?? '', state ? String(state.state) : '-', sel]);
}

/** A record's labels are only computed when there is a selector to match. */
function matchesSelector(r: SandboxRecord | ContainerRecord, selector: Record<string, string> | null | undefined): boolean {
  return !selector || Object.keys(selector).length === 0 || matchesLabels(labelsOf(r), selector);
}
