import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKind, type Logger } from '../../common/index.js';
import { openStore, type Store } from '../store/index.js';
import { containerRecord, sandboxRecord } from '../store/testdata/records.js';
import { removeContainer } from './container-remove.js';
import { stopContainer } from './container-stop.js';
import type { RuntimeDeps } from './deps.js';
import { goneMeanwhile, knownId, type IdUse } from './known-id.js';
import { removePodSandbox } from './sandbox-remove.js';
import { stopPodSandbox } from './sandbox-stop.js';

let dir: string;
let store: Store;
let records: { obj: Record<string, unknown>; msg: string }[];
const log = { debug: (obj: Record<string, unknown>, msg: string) => records.push({ obj, msg }) } as unknown as Pick<Logger, 'debug'>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-known-id-'));
  store = await openStore(dir);
  records = [];
  await store.sandboxes.create(sandboxRecord('abc111'));
  await store.sandboxes.create(sandboxRecord('abc222'));
  await store.containers.create(containerRecord('def333', 'abc111'));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const sandboxes: IdUse = { method: 'StopPodSandbox', idKey: 'podSandboxId' };

describe('knownId', () => {
  it('an id or a unique prefix is the full id', () => {
    expect(knownId(store.sandboxes, 'abc111', log, sandboxes)).toBe('abc111');
    expect(knownId(store.sandboxes, 'abc2', log, sandboxes)).toBe('abc222');
    expect(records).toEqual([]);
  });
  it('an id no record has is undefined, logged at debug with the id and the method', () => {
    expect(knownId(store.sandboxes, 'fff', log, sandboxes)).toBeUndefined();
    expect(records).toEqual([{ obj: { podSandboxId: 'fff', method: 'StopPodSandbox' }, msg: 'StopPodSandbox: no such id, nothing to do' }]);
  });
  it('goneMeanwhile: false while the record is there; true, logged at debug, once it is not', async () => {
    expect(goneMeanwhile(store.sandboxes, 'abc111', log, sandboxes)).toBe(false);
    await store.sandboxes.delete('abc111');
    expect(goneMeanwhile(store.sandboxes, 'abc111', log, sandboxes)).toBe(true);
    expect(records).toEqual([{ obj: { podSandboxId: 'abc111', method: 'StopPodSandbox' }, msg: 'StopPodSandbox: removed meanwhile, nothing to do' }]);
  });
  it('an empty or ambiguous id is still InvalidArgument', () => {
    expect(() => knownId(store.sandboxes, '', log, sandboxes)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => knownId(store.sandboxes, 'abc', log, sandboxes)).toThrow(/ambiguous/);
  });
});

describe('Stop* and Remove* of ids that are not there', () => {
  // Every dependency but the store and the logger throws when touched: nothing else may happen.
  const untouchable = new Proxy({}, { get: (_, p) => { throw new Error(`touched ${String(p)}`); } });
  const deps = () => ({
    store, log, config: untouchable, images: untouchable, tasks: untouchable, events: untouchable, stops: untouchable,
    logs: untouchable, network: untouchable, dirs: untouchable, locks: untouchable, starting: untouchable, podCidr: '',
  }) as unknown as RuntimeDeps;

  it('succeed without touching anything, each with a debug record naming its method', async () => {
    await stopContainer(deps(), 'beef', 10);
    await removeContainer(deps(), 'beef');
    await stopPodSandbox(deps(), 'beef');
    await removePodSandbox(deps(), 'beef');
    expect(records.map((r) => r.msg)).toEqual([
      'StopContainer: no such id, nothing to do', 'RemoveContainer: no such id, nothing to do',
      'StopPodSandbox: no such id, nothing to do', 'RemovePodSandbox: no such id, nothing to do',
    ]);
    expect(records.map((r) => r.obj.containerId ?? r.obj.podSandboxId)).toEqual(['beef', 'beef', 'beef', 'beef']);
  });
  it('an ambiguous prefix is refused before anything is touched', async () => {
    await expect(stopPodSandbox(deps(), 'abc')).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
    await expect(removePodSandbox(deps(), 'abc')).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
  });
});
