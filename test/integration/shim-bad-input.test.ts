// containerd-shim-berth-v2 given bad input: every call answers with a typed error (never a
// crash or a hang), a failed Create leaves nothing behind, and the shim keeps serving.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../common/index.js';
import { containerd } from '../../proto/index.js';
import {
  CALL, bundleDir, connectTask, makeTaskBundle, mountsUnder, rand, runcOptions, shimPids, shimStart,
  shimEnvPerTest, waitForEvents,
} from './shim-harness.js';
import { makeBusyboxRootfs } from '../fixtures/index.js';

const newEnv = shimEnvPerTest();

async function failure(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  const err = await p.then(() => new Error('expected the call to fail'), (e: unknown) => e);
  return isBerthError(err) ? { kind: err.kind, message: err.message } : { kind: `not a BerthError: ${String(err)}`, message: '' };
}

describe('containerd-shim-berth-v2 bad input', () => {
  it('answers typed errors and keeps serving', async () => {
    const e = await newEnv();
    const id = `b-${rand()}`;
    await makeTaskBundle(e, id, { args: ['sleep', '60'] });
    const task = await connectTask(e, await shimStart(e, id));
    const bundle = bundleDir(e, id);

    expect(await failure(task.Create({ id: '../evil', bundle }, CALL))).toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Create({ id, bundle: 'relative/dir' }, CALL))).toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Create({ id: `n-${rand()}`, bundle: path.join(e.tmp, 'no-such-bundle') }, CALL))).toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Create({ id, bundle, options: { type_url: 'containerd.runc.v1.Options', value: new Uint8Array([0xff, 0xff]) } }, CALL)))
      .toMatchObject({ kind: 'invalid-argument' });
    // a root or binary that would forge lines of the pod guard's kill list (a kill outside the pod)
    for (const forged of [{ root: `${e.runcRoot}\nrunc\t/run/containerd/runc/k8s.io\tvictim` }, { root: e.runcRoot, binaryName: 'runc\tx' }]) {
      const options = { type_url: 'containerd.runc.v1.Options', value: containerd.runc.v1.Options.encode(forged).finish() };
      const err = await failure(task.Create({ id, bundle, options }, CALL));
      expect(err).toMatchObject({ kind: 'invalid-argument' });
      expect(err.message).toMatch(/contains control characters/);
    }
    expect(await failure(task.Create({ id, bundle, stdout: 'binary:///usr/bin/logger', options: runcOptions(e) }, CALL)))
      .toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Checkpoint({ id, path: '/x' }, CALL))).toMatchObject({ kind: 'unimplemented' });
    for (const call of [task.Start({ id }, CALL), task.Kill({ id, signal: 9 }, CALL), task.Pids({ id }, CALL), task.Wait({ id }, CALL)]) {
      expect(await failure(call)).toEqual({ kind: 'not-found', message: 'container not created: not found' });
    }

    await task.Create({ id, bundle, options: runcOptions(e) }, CALL);
    expect(await failure(task.Create({ id, bundle, options: runcOptions(e) }, CALL))).toMatchObject({ kind: 'already-exists' });
    expect(await failure(task.Exec({ id, execId: 'bad id!', spec: { type_url: 'x', value: new Uint8Array(0) } }, CALL))).toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Exec({ id, execId: 'e1', spec: { type_url: 'x', value: new TextEncoder().encode('{not json') } }, CALL)))
      .toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Start({ id, execId: 'nope' }, CALL))).toEqual({ kind: 'not-found', message: 'process does not exist nope: not found' });
    expect(await failure(task.Update({ id, resources: { type_url: 'x', value: new TextEncoder().encode('[') } }, CALL))).toMatchObject({ kind: 'invalid-argument' });
    expect(await failure(task.Pause({ id }, CALL))).toEqual({ kind: 'unknown', message: 'cannot pause task in created state' });
    // a created (never started) task can be deleted: its init is killed, only /tasks/delete follows
    expect((await task.Delete({ id }, CALL)).exitStatus).toBe(137);
    expect(await waitForEvents(e, 2)).toEqual(['/tasks/create', '/tasks/delete']);
    expect(shimPids(e.ns)).toHaveLength(1);
  });

  it('undoes a failed Create: rootfs unmounted, no task, the shim still serves', async () => {
    const e = await newEnv();
    const id = `f-${rand()}`;
    await makeTaskBundle(e, id, { args: ['/no/such/binary'] });
    const task = await connectTask(e, await shimStart(e, id));
    const bundle = bundleDir(e, id);
    const src = await makeBusyboxRootfs(path.join(e.tmp, 'rootfs-src'));
    const err = await failure(task.Create({ id, bundle, rootfs: [{ type: 'bind', source: src, options: ['rbind', 'rw'] }], options: runcOptions(e) }, CALL));
    expect(err.kind).toBe('unknown');
    expect(err.message).toMatch(/runc create failed: .*no such file or directory/);
    expect(err.message.split('runc create failed:'), 'the failed verb is named once').toHaveLength(2);
    expect(mountsUnder(e.tmp)).toEqual([]);
    expect(await failure(task.State({ id }, CALL))).toMatchObject({ kind: 'not-found' });
    expect(existsSync(path.join(e.runcRoot, e.ns, id))).toBe(false);
    const podList = readdirSync(e.socketDir).find((f) => f.endsWith('.pod'));
    expect(podList === undefined || readFileSync(path.join(e.socketDir, podList), 'utf8') === '').toBe(true);
    expect((await task.Connect({ id }, CALL)).taskPid ?? 0).toBe(0);
  });
});
