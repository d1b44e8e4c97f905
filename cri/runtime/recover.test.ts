// CRI state after a restart against a fake task manager: each line of recover.ts's table, from the
// reload outcomes and the records, and an orphan task killed and deleted once it exited.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMountPoint, mountAll } from '../../sys/index.js';
import { openTestRuntime, type TestRuntime } from '../../test/helpers/runtime-deps.js';
import type { ReloadOutcome } from '../../taskmanager/index.js';
import { containerState, isSet, sandboxState } from '../store/index.js';
import { containerRecord, sandboxRecord } from '../store/testdata/records.js';
import { CRI_NAMESPACE } from './deps.js';
import { recoverState } from './recover.js';

let rt: TestRuntime;
beforeEach(async () => { rt = await openTestRuntime(); });
afterEach(async () => { await rt.close(); });

const READY = { stage: 'complete' as const, readyAt: '1700000000100000000' };
const RUNNING = { startedAt: '1700000000600000000', pid: 11 };

function reloaded(id: string, status: 'created' | 'running'): ReloadOutcome {
  return { kind: 'reloaded', namespace: CRI_NAMESPACE, id, task: rt.tasks.adopt(CRI_NAMESPACE, id, status) };
}

describe('recoverState', () => {
  it('brings every record in line with the tasks reload found', async () => {
    const { store } = rt.deps;
    await store.sandboxes.create(sandboxRecord('pod1', READY));
    await store.sandboxes.create(sandboxRecord('pod2', READY)); // its pause is gone
    await store.containers.create(containerRecord('live', 'pod1', RUNNING));
    await store.containers.create(containerRecord('began', 'pod1')); // started while berth was down
    await store.containers.create(containerRecord('fresh', 'pod1')); // created, never started
    await store.containers.create(containerRecord('killed', 'pod1', RUNNING)); // its shim died
    await store.containers.create(containerRecord('lost', 'pod1', RUNNING)); // no task at all
    const outcomes: ReloadOutcome[] = [
      reloaded('pod1', 'running'), reloaded('live', 'running'), reloaded('began', 'running'), reloaded('fresh', 'created'),
      { kind: 'dead', namespace: CRI_NAMESPACE, id: 'killed', exit: { pid: 12, exitStatus: 137, exitedAt: new Date(1_700_000_001_000) } },
      { kind: 'reloaded', namespace: 'other', id: 'lost', task: rt.tasks.adopt('other', 'lost', 'running') }, // not the CRI's
    ];
    await recoverState(rt.deps, outcomes);

    expect(containerState(store.containers.get('live'))).toBe('CONTAINER_RUNNING');
    expect(rt.deps.logs.get('live')).toBeDefined(); // logs re-attached
    const began = store.containers.get('began');
    expect(containerState(began)).toBe('CONTAINER_RUNNING');
    expect(began.pid).toBe(rt.tasks.task(CRI_NAMESPACE, 'began').pid);
    expect(containerState(store.containers.get('fresh'))).toBe('CONTAINER_CREATED');
    expect(rt.tasks.has(CRI_NAMESPACE, 'fresh')).toBe(false);
    expect(store.containers.get('killed')).toMatchObject({ exitCode: 137, finishedAt: '1700000001000000000' });
    expect(store.containers.get('lost')).toMatchObject({ exitCode: 255, reason: 'Unknown', pid: 0 });
    expect(sandboxState(store.sandboxes.get('pod1'))).toBe('SANDBOX_READY');
    expect(isSet(store.sandboxes.get('pod2').stoppedAt)).toBe(true);
    expect(rt.tasks.calls).toEqual(['state began', 'state fresh', 'delete fresh']);
  });

  it('keeps a pod without a pause process READY while its pod shim answers; NOTREADY when it is gone; lets go of a stopped pod\'s shim', async () => {
    const { store } = rt.deps;
    const pauseless = { ...READY, pid: 0, pauseless: { ipcPath: '', utsPath: '' } };
    await store.sandboxes.create(sandboxRecord('kept', pauseless));
    await store.sandboxes.create(sandboxRecord('gone', pauseless));
    await store.sandboxes.create(sandboxRecord('stopped', { ...pauseless, stoppedAt: '1700000000200000000' }));
    const podShim = (id: string, alive: boolean): ReloadOutcome => ({ kind: 'pod-shim', namespace: CRI_NAMESPACE, id, alive });
    await recoverState(rt.deps, [podShim('kept', true), podShim('gone', false), podShim('stopped', true)]);
    expect(sandboxState(store.sandboxes.get('kept'))).toBe('SANDBOX_READY');
    expect(sandboxState(store.sandboxes.get('gone'))).toBe('SANDBOX_NOTREADY');
    expect(rt.tasks.calls).toEqual(['stopPodShim stopped']);
  });

  it('kills a task no record knows and deletes it once it exited', async () => {
    await recoverState(rt.deps, [reloaded('stray', 'running')]);
    expect(rt.tasks.calls).toEqual(['kill stray 9']);
    expect(rt.tasks.has(CRI_NAMESPACE, 'stray')).toBe(true);
    rt.tasks.exit(CRI_NAMESPACE, 'stray', 137);
    await expect.poll(() => rt.tasks.has(CRI_NAMESPACE, 'stray')).toBe(false);
    expect(rt.tasks.calls).toEqual(['kill stray 9', 'delete stray']);
  });

  // What a crash between a call's first step and its record leaves (docs/crash-safety.md).
  it('releases names without records and removes rw snapshots, container dirs, pod dirs and view mounts without records', async () => {
    const { store, images, dirs } = rt.deps;
    await store.sandboxes.create(sandboxRecord('pod1', READY));
    await store.containers.create(containerRecord('kept', 'pod1'));
    await store.sandboxNames.reserve('pod1_ns_uid_0', 'pod1');
    await store.containerNames.reserve('kept_pod1_ns_uid_0', 'kept');
    await store.sandboxNames.reserve('cut_ns_uid_0', 'cutpod'); // RunPodSandbox killed after the reservation
    await store.containerNames.reserve('cut_pod1_ns_uid_0', 'cutctr'); // CreateContainer killed before its record
    await images.prepareRootfs('kept', 'img');
    await images.prepareRootfs('cutctr', 'img');
    await mkdir(path.join(dirs.root, 'containers', 'kept'), { recursive: true });
    await mkdir(path.join(dirs.root, 'containers', 'cutctr'), { recursive: true });
    await mkdir(path.join(dirs.root, 'sandboxes', 'cutpod'), { recursive: true });
    await mkdir(path.join(dirs.state, 'sandboxes', 'pod1'), { recursive: true });
    const view = path.join(dirs.state, 'view-abc');
    await mkdir(view, { recursive: true });
    mountAll([{ type: 'tmpfs', source: 'tmpfs', options: [] }], view); // a spec step's layer view, mounted when the daemon died

    await recoverState(rt.deps, [reloaded('pod1', 'running')]);

    expect(store.sandboxNames.entries()).toEqual([['pod1_ns_uid_0', 'pod1']]);
    expect(store.containerNames.entries()).toEqual([['kept_pod1_ns_uid_0', 'kept']]);
    expect(images.rootfsIds()).toEqual(['kept']);
    expect(readdirSync(path.join(dirs.root, 'containers'))).toEqual(['kept']);
    expect(readdirSync(path.join(dirs.root, 'sandboxes'))).toEqual([]);
    expect(readdirSync(path.join(dirs.state, 'sandboxes'))).toEqual(['pod1']);
    expect(isMountPoint(view)).toBe(false);
    expect(existsSync(view)).toBe(false);
  });
});
