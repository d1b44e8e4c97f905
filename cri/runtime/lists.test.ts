import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { openStore, type Store } from '../store/index.js';
import { containerRecord, sandboxRecord } from '../store/testdata/records.js';
import { listContainers, listPodSandbox } from './lists.js';

const v1 = runtime.v1;
let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-lists-'));
  store = await openStore(dir);
  await store.sandboxes.create(sandboxRecord('pod1', { stage: 'complete', readyAt: '1700000000100000000' }));
  await store.sandboxes.create(sandboxRecord('pod2'));
  await store.containers.create(containerRecord('c1', 'pod1', { startedAt: '1700000000600000000' }));
  await store.containers.create(containerRecord('c2', 'pod1'));
  await store.containers.create(containerRecord('c3', 'pod2'));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const ids = (l: readonly { id?: string | null }[]) => l.map((x) => x.id);

describe('ListContainers / ListPodSandbox answers', () => {
  it('are kept while nothing changes, and follow every create, update and delete', async () => {
    const deps = { store };
    const first = listContainers(deps, {});
    expect(ids(first)).toEqual(['c1', 'c2', 'c3']);
    expect(Object.isFrozen(first)).toBe(true);
    expect(listContainers(deps, {})).toBe(first);
    expect(listContainers(deps, undefined)).toBe(first);

    await store.containers.update('c2', (r) => ({ ...r, startedAt: '1700000000700000000' }));
    const afterUpdate = listContainers(deps, { state: { state: v1.ContainerState.CONTAINER_RUNNING } });
    expect(ids(afterUpdate)).toEqual(['c1', 'c2']);
    await store.containers.create(containerRecord('c0', 'pod2'));
    expect(ids(listContainers(deps, {}))).toEqual(['c0', 'c1', 'c2', 'c3']);
    await store.containers.delete('c1');
    expect(ids(listContainers(deps, {}))).toEqual(['c0', 'c2', 'c3']);
    expect(ids(listContainers(deps, { state: { state: v1.ContainerState.CONTAINER_RUNNING } }))).toEqual(['c2']);

    const pods = listPodSandbox(deps, {});
    expect(ids(pods)).toEqual(['pod1', 'pod2']);
    expect(listPodSandbox(deps, {})).toBe(pods);
    await store.sandboxes.update('pod2', (r) => ({ ...r, stage: 'complete', readyAt: '1700000000200000000' }));
    expect(ids(listPodSandbox(deps, { state: { state: v1.PodSandboxState.SANDBOX_READY } }))).toEqual(['pod1', 'pod2']);
  });

  it('keep each filter apart: state CREATED (0) is not "no state", selectors match in any key order', async () => {
    const deps = { store };
    expect(ids(listContainers(deps, { state: { state: v1.ContainerState.CONTAINER_CREATED } }))).toEqual(['c2', 'c3']);
    expect(ids(listContainers(deps, {}))).toEqual(['c1', 'c2', 'c3']);
    expect(ids(listContainers(deps, { podSandboxId: 'pod2' }))).toEqual(['c3']);
    expect(ids(listContainers(deps, { id: 'c1' }))).toEqual(['c1']);
    await store.containers.update('c3', (r) => ({ ...r, config: { ...r.config, labels: { tier: 'front', zone: 'a' } } }));
    const ab = listContainers(deps, { labelSelector: { tier: 'front', zone: 'a' } });
    expect(ids(ab)).toEqual(['c3']);
    expect(listContainers(deps, { labelSelector: { zone: 'a', tier: 'front' } })).toBe(ab);
    // A state filter without a value matches nothing; it must not stand for "no state filter".
    expect(ids(listContainers(deps, { state: {} }))).toEqual([]);
    expect(ids(listContainers(deps, {}))).toEqual(['c1', 'c2', 'c3']);
    expect(ids(listPodSandbox(deps, { state: {} }))).toEqual([]);
    expect(ids(listPodSandbox(deps, {}))).toEqual(['pod1', 'pod2']);
  });

  it('see a pod id prefix resolve anew when only the sandboxes changed', async () => {
    const deps = { store };
    // "pod" names two pods: ambiguous, so it matches none.
    expect(ids(listContainers(deps, { podSandboxId: 'pod' }))).toEqual([]);
    await store.sandboxes.delete('pod2');
    expect(ids(listContainers(deps, { podSandboxId: 'pod' }))).toEqual(['c1', 'c2']);
  });
});
