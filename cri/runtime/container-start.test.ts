// StartContainer against a fake task manager: the task is created with the spec CreateContainer
// wrote, started, the container recorded RUNNING with its pid and STARTED emitted, all while the
// `starting` lock is held (the exit handler waits on it); a failed start deletes the task and
// records the container EXITED 128 / StartError.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError, isKind } from '../../common/index.js';
import { EVENT, openTestRuntime, type TestRuntime } from '../../test/helpers/runtime-deps.js';
import { containerState } from '../store/index.js';
import { containerRecord, sandboxRecord } from '../store/testdata/records.js';
import { containerSpecPath } from './container-create.js';
import { startContainer } from './container-start.js';
import { CRI_NAMESPACE } from './deps.js';

let rt: TestRuntime;
beforeEach(async () => {
  rt = await openTestRuntime();
  await rt.deps.store.sandboxes.create(sandboxRecord('pod1', { stage: 'complete', readyAt: '1700000000100000000' }));
  await rt.deps.store.containers.create(containerRecord('app1', 'pod1', {
    config: { metadata: { name: 'app', attempt: 0 }, tty: true, stdin: true },
    logPath: path.join(rt.dir, 'logs', 'app.log'),
  }));
  const spec = containerSpecPath(rt.deps.dirs, 'app1');
  await mkdir(path.dirname(spec), { recursive: true });
  await writeFile(spec, JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sleep', '1'] }, annotations: { 'io.kubernetes.cri.sandbox-id': 'pod1' } }));
  await mkdir(path.join(rt.dir, 'logs'));
});
afterEach(async () => { await rt.close(); });

describe('startContainer', () => {
  it('creates the task from the written spec, starts it, records RUNNING and emits STARTED under the starting lock', async () => {
    let release!: () => void;
    rt.tasks.startGate = new Promise((r) => { release = r; });
    const starting = startContainer(rt.deps, 'app1');
    await expect.poll(() => rt.tasks.calls).toEqual(['createTask app1', 'start app1']);
    // An exit handled now would wait: the start holds `starting` until STARTED is recorded.
    let exitHandlerRan = false;
    const exitHandler = rt.deps.starting.run('app1', () => { exitHandlerRan = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(exitHandlerRan).toBe(false);
    release();
    await starting;
    await exitHandler;
    const req = rt.tasks.request(CRI_NAMESPACE, 'app1');
    expect((req.spec as { process: { args: string[] } }).process.args).toEqual(['sleep', '1']);
    expect(req).toMatchObject({ terminal: true, stdin: true });
    const c = rt.deps.store.containers.get('app1');
    expect(containerState(c)).toBe('CONTAINER_RUNNING');
    expect(c.pid).toBe(rt.tasks.task(CRI_NAMESPACE, 'app1').pid);
    expect(rt.events).toEqual([['app1', EVENT.CONTAINER_STARTED_EVENT]]);
    expect(rt.deps.logs.get('app1')).toBeDefined();
  });

  it('deletes the task and records EXITED 128 StartError when the start fails', async () => {
    rt.tasks.failures.start = new UnavailableError('runc: exec failed');
    await expect(startContainer(rt.deps, 'app1')).rejects.toThrow('exec failed');
    expect(rt.tasks.calls).toEqual(['createTask app1', 'start app1', 'kill app1 9', 'delete app1']);
    const c = rt.deps.store.containers.get('app1');
    expect(containerState(c)).toBe('CONTAINER_EXITED');
    expect(c).toMatchObject({ exitCode: 128, reason: 'StartError', pid: 0 });
    expect(c.message).toContain('exec failed');
    expect(rt.events).toEqual([]);
  });

  it('refuses a container that is not CREATED, or whose pod is not READY', async () => {
    await startContainer(rt.deps, 'app1');
    const again = await startContainer(rt.deps, 'app1').catch((e: unknown) => e);
    expect(isKind(again, 'failed-precondition')).toBe(true);
    await rt.deps.store.containers.create(containerRecord('app2', 'pod1'));
    await rt.deps.store.sandboxes.update('pod1', (s) => ({ ...s, stoppedAt: '1700000000200000000' }));
    const notReady = await startContainer(rt.deps, 'app2').catch((e: unknown) => e);
    expect(isKind(notReady, 'failed-precondition')).toBe(true);
    expect(rt.tasks.calls).toEqual(['createTask app1', 'start app1']);
  });
});
