// The CRI side of an exit against a fake task manager: the exit is recorded in the store once
// (a replay after a restart changes nothing and emits nothing), Stop callers are woken, STOPPED is
// emitted, and only then is the task deleted; an exit waits for a start in flight; exec exits and
// other namespaces are not the CRI's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENT, openTestRuntime, type TestRuntime } from '../../test/helpers/runtime-deps.js';
import { exitDeps } from '../runtime/index.js';
import { containerState, isSet, nanosFromDate, sandboxState } from '../store/index.js';
import { containerRecord, sandboxRecord } from '../store/testdata/records.js';
import { CRI_NAMESPACE } from './cri-namespace.js';
import { handleExit as handle, handleTaskEvent } from './exits.js';

let rt: TestRuntime;
const handleExit = (deps: TestRuntime['deps'], exit: Parameters<typeof handle>[1]) => handle(exitDeps(deps), exit);
beforeEach(async () => {
  rt = await openTestRuntime();
  await rt.deps.store.sandboxes.create(sandboxRecord('pod1', { stage: 'complete', readyAt: '1700000000100000000', pid: 10 }));
  await rt.deps.store.containers.create(containerRecord('app1', 'pod1', { startedAt: '1700000000600000000', pid: 11 }));
  rt.tasks.adopt(CRI_NAMESPACE, 'pod1', 'running', 10);
  rt.tasks.adopt(CRI_NAMESPACE, 'app1', 'running', 11);
});
afterEach(async () => { await rt.close(); });

describe('handleExit', () => {
  it('records a container exit once, wakes Stop, emits STOPPED, then deletes the task', async () => {
    const stopped = rt.deps.stops.wait('app1', () => isSet(rt.deps.store.containers.get('app1').finishedAt), 5_000);
    const exit = rt.tasks.exit(CRI_NAMESPACE, 'app1', 3);
    await handleExit(rt.deps, exit);
    expect(await stopped).toBe(true);
    const c = rt.deps.store.containers.get('app1');
    expect(containerState(c)).toBe('CONTAINER_EXITED');
    expect(c).toMatchObject({ exitCode: 3, pid: 0, finishedAt: nanosFromDate(exit.exitedAt) });
    expect(rt.events).toEqual([['app1', EVENT.CONTAINER_STOPPED_EVENT]]);
    expect(rt.tasks.calls).toEqual(['delete app1']);
    expect(rt.tasks.has(CRI_NAMESPACE, 'app1')).toBe(false);

    // The same exit again (the shim answers Wait again after a restart): nothing changes.
    rt.tasks.adopt(CRI_NAMESPACE, 'app1', 'stopped', 11);
    await handleExit(rt.deps, { ...exit, exitStatus: 9 });
    expect(rt.deps.store.containers.get('app1').exitCode).toBe(3);
    expect(rt.events).toHaveLength(1);
    expect(rt.tasks.calls).toEqual(['delete app1', 'delete app1']); // the task is still cleaned up
  });

  it('marks a sandbox NOTREADY and emits its STOPPED', async () => {
    await handleExit(rt.deps, rt.tasks.exit(CRI_NAMESPACE, 'pod1', 0));
    expect(sandboxState(rt.deps.store.sandboxes.get('pod1'))).toBe('SANDBOX_NOTREADY');
    expect(rt.events).toEqual([['pod1', EVENT.CONTAINER_STOPPED_EVENT]]);
    expect(rt.tasks.calls).toEqual(['delete pod1']);
  });

  it('waits for a start in flight, so STARTED comes before STOPPED', async () => {
    let started!: () => void;
    const starting = rt.deps.starting.run('app1', () => new Promise<void>((r) => { started = r; }));
    const handled = handleExit(rt.deps, rt.tasks.exit(CRI_NAMESPACE, 'app1', 0));
    await new Promise((r) => setTimeout(r, 20));
    expect(isSet(rt.deps.store.containers.get('app1').finishedAt)).toBe(false);
    started();
    await starting;
    await handled;
    expect(isSet(rt.deps.store.containers.get('app1').finishedAt)).toBe(true);
  });

  it('leaves exec exits, unknown ids and other namespaces alone', async () => {
    const exit = rt.tasks.exit(CRI_NAMESPACE, 'app1', 1);
    await handleExit(rt.deps, { ...exit, id: 'exec1' });
    await handleExit(rt.deps, { ...exit, namespace: 'other' });
    await handleExit(rt.deps, { ...exit, containerId: 'nobody', id: 'nobody' });
    expect(isSet(rt.deps.store.containers.get('app1').finishedAt)).toBe(false);
    expect(rt.tasks.calls).toEqual([]);
    expect(rt.events).toEqual([]);
  });

  it('records OOMKilled from a /tasks/oom event, kept by the exit that follows', async () => {
    await handleTaskEvent(rt.deps, { namespace: CRI_NAMESPACE, timestamp: new Date(), event: { topic: '/tasks/oom', event: { containerId: 'app1' } } as never });
    await handleExit(rt.deps, rt.tasks.exit(CRI_NAMESPACE, 'app1', 137));
    expect(rt.deps.store.containers.get('app1')).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });
});
