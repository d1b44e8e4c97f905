// RunPodSandbox against a fake task manager: the pause task is created in the CRI namespace with
// containerd's annotations, started, and the pod is READY only then; a failing start undoes every
// step (task, rootfs, pod files, record, name). A pod with no shared pid namespace gets its pod
// shim and no pause task (docs/cri.md "Pods without a pause process").
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../common/index.js';
import { EVENT, openTestRuntime, type TestRuntime } from '../../test/helpers/runtime-deps.js';
import { sandboxState } from '../store/index.js';
import { CRI_NAMESPACE } from './deps.js';
import { runPodSandbox } from './sandbox-run.js';
import { sandboxFilePaths } from './sandbox-files.js';

const NODE = 2;
const POD = 0;
const CONTAINER = 1;
const request = (name: string, pid = POD) => ({
  config: {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    linux: { securityContext: { namespaceOptions: { network: NODE, ipc: NODE, pid } } },
  },
}) as never;

let rt: TestRuntime;
beforeEach(async () => { rt = await openTestRuntime(); });
afterEach(async () => { await rt.close(); });

describe('runPodSandbox', () => {
  it('creates and starts the pause task, then records the pod READY and emits STARTED', async () => {
    const { podSandboxId: id } = await runPodSandbox(rt.deps, request('web'));
    expect(rt.tasks.calls).toEqual([`createTask ${id}`, `start ${id}`]);
    const req = rt.tasks.request(CRI_NAMESPACE, id);
    const annotations = (req.spec as { annotations: Record<string, string> }).annotations;
    expect(annotations['io.kubernetes.cri.container-type']).toBe('sandbox');
    expect(annotations['io.kubernetes.cri.sandbox-id']).toBe(id);
    expect(req.rootfs?.[0]?.source).toContain('layer');
    const s = rt.deps.store.sandboxes.get(id);
    expect(s.stage).toBe('complete');
    expect(s.pid).toBe(rt.tasks.task(CRI_NAMESPACE, id).pid);
    expect(sandboxState(s)).toBe('SANDBOX_READY');
    expect(rt.events).toEqual([[id, EVENT.CONTAINER_STARTED_EVENT]]);
    expect(rt.rootfs).toEqual([`prepare ${id}`]);
    expect(rt.deps.logs.get(id)).toBeDefined(); // the pause output is read (and dropped)
  });

  it('undoes every step when the pause task does not start', async () => {
    rt.tasks.failures.start = new UnavailableError('shim gone');
    await expect(runPodSandbox(rt.deps, request('web'))).rejects.toThrow('shim gone');
    const [created] = rt.tasks.calls;
    const id = created!.split(' ')[1]!;
    expect(rt.tasks.calls).toEqual([`createTask ${id}`, `start ${id}`, `kill ${id} 9`, `delete ${id}`]);
    expect(rt.tasks.has(CRI_NAMESPACE, id)).toBe(false);
    expect(rt.rootfs).toEqual([`prepare ${id}`, `remove ${id}`]);
    expect(existsSync(sandboxFilePaths(rt.deps.dirs, id).rootDir)).toBe(false);
    expect(rt.deps.store.sandboxes.has(id)).toBe(false);
    expect(rt.events).toEqual([]);
    // The name is free again: the next attempt (kubelet's retry) succeeds.
    delete rt.tasks.failures.start;
    const again = await runPodSandbox(rt.deps, request('web'));
    expect(sandboxState(rt.deps.store.sandboxes.get(again.podSandboxId))).toBe('SANDBOX_READY');
  });

  it('runs a pod without a shared pid namespace without a pause task: its pod shim, no image, no rootfs', async () => {
    const { podSandboxId: id } = await runPodSandbox(rt.deps, request('web', CONTAINER));
    expect(rt.tasks.calls).toEqual([`startPodShim ${id}`]);
    expect(rt.tasks.podShimPid(CRI_NAMESPACE, id)).toBeGreaterThan(0);
    expect(rt.rootfs).toEqual([]);
    const s = rt.deps.store.sandboxes.get(id);
    // host network and IPC: nothing of the host's is pinned (or set)
    expect([s.stage, s.pid, s.netnsPath, s.pauseless]).toEqual(['complete', 0, '', { ipcPath: '', utsPath: '' }]);
    expect(sandboxState(s)).toBe('SANDBOX_READY');
    expect(rt.events).toEqual([[id, EVENT.CONTAINER_STARTED_EVENT]]);
  });

  it('keeps the pause task with drop_infra_container = false', async () => {
    const deps = { ...rt.deps, config: { ...rt.deps.config, dropInfraContainer: false } };
    const { podSandboxId: id } = await runPodSandbox(deps, request('web', CONTAINER));
    expect(rt.tasks.calls).toEqual([`createTask ${id}`, `start ${id}`]);
    expect(rt.deps.store.sandboxes.get(id).pauseless).toBeUndefined();
  });

  it('undoes every step when the pod shim does not start', async () => {
    rt.tasks.failures.startPodShim = new UnavailableError('no shim');
    await expect(runPodSandbox(rt.deps, request('web', CONTAINER))).rejects.toThrow('no shim');
    const id = rt.tasks.calls[0]!.split(' ')[1]!;
    expect(rt.tasks.calls).toEqual([`startPodShim ${id}`, `stopPodShim ${id}`]);
    expect(existsSync(sandboxFilePaths(rt.deps.dirs, id).rootDir)).toBe(false);
    expect(rt.deps.store.sandboxes.has(id)).toBe(false);
    expect(rt.events).toEqual([]);
    delete rt.tasks.failures.startPodShim;
    const again = await runPodSandbox(rt.deps, request('web', CONTAINER));
    expect(sandboxState(rt.deps.store.sandboxes.get(again.podSandboxId))).toBe('SANDBOX_READY');
  });
});
