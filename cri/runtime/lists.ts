// ListPodSandbox and ListContainers with the CRI filters: id (full or unique prefix), state,
// pod sandbox id, label selector.
import { isKind } from '../../common/index.js';
import type { runtime } from '../../proto/cri.js';
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

export function listPodSandbox(deps: Deps, f: runtime.v1.PodSandboxFilter.$Properties | null | undefined): runtime.v1.PodSandbox.$Properties[] {
  const id = filterId(deps.store.sandboxes, f?.id);
  if (id === null) return [];
  return deps.store.sandboxes.list((s) =>
    (id === undefined || s.id === id)
    && (!f?.state || sandboxStateOf(s) === f.state.state)
    && matchesSelector(s, f?.labelSelector)).map(sandboxMessage);
}

export function listContainers(deps: Deps, f: runtime.v1.ContainerFilter.$Properties | null | undefined): runtime.v1.Container.$Properties[] {
  const id = filterId(deps.store.containers, f?.id);
  const podId = filterId(deps.store.sandboxes, f?.podSandboxId);
  if (id === null || podId === null) return [];
  const from = podId !== undefined ? deps.store.containersOf(podId) : deps.store.containers.list();
  return from.filter((c) =>
    (id === undefined || c.id === id)
    && (!f?.state || containerStateOf(c) === f.state.state)
    && matchesSelector(c, f?.labelSelector)).map(containerMessage);
}

/** A record's labels are only computed when there is a selector to match. */
function matchesSelector(r: SandboxRecord | ContainerRecord, selector: Record<string, string> | null | undefined): boolean {
  return !selector || Object.keys(selector).length === 0 || matchesLabels(labelsOf(r), selector);
}
