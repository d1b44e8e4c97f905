// Bad input and broken shims: each fails with a clear typed error within its deadline and leaves
// nothing behind (no bundle, work dir, mount, socket or process).
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateTaskRequest } from '../../taskmanager/index.js';
import {
  TEST_RUNTIMES, mountsUnder, podSpec, rootfsMounts, shimServers, useTestTaskManager,
} from '../helpers/tm-daemon-env.js';

const runc = TEST_RUNTIMES[0]!;

async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(marker)) pids.push(Number(name));
  }
  return pids;
}

describe('task manager bad input', () => {
  const ctx = useTestTaskManager(runc, { startTimeoutMs: 1_500, connectTimeoutMs: 1_000 });
  const marker = `${31_000 + Math.floor(Math.random() * 1000)}`;

  async function shimScript(name: string, body: string): Promise<string> {
    const p = path.join(ctx.env.dir, name);
    await writeFile(p, `#!/bin/sh\n${body}\n`);
    await chmod(p, 0o755);
    return p;
  }

  const req = (id: string, runtime: string, extra: Partial<CreateTaskRequest> = {}): CreateTaskRequest => ({
    namespace: ctx.env.namespace, id, runtime, spec: podSpec(['true'], id), rootfs: rootfsMounts(ctx.env), ...extra,
  });

  async function expectNothingLeft(): Promise<void> {
    expect(await readdir(path.join(ctx.env.stateDir, ctx.env.namespace)).catch(() => [])).toEqual([]);
    expect(await readdir(path.join(ctx.env.rootDir, ctx.env.namespace)).catch(() => [])).toEqual([]);
    expect(await mountsUnder(ctx.env.dir)).toEqual([]);
    expect(ctx.tm.list()).toEqual([]);
  }

  afterEach(async () => {
    for (const pid of await processesWith(`sleep ${marker}`)) process.kill(pid, 'SIGKILL');
  });

  it('rejects unknown runtimes, bad ids and a missing spec', async () => {
    const { env, tm } = ctx;
    await expect(tm.createTask(req('a1', 'io.containerd.nope.v9'))).rejects.toMatchObject({
      kind: 'not-found', message: expect.stringContaining('containerd-shim-nope-v9'),
    });
    await expect(tm.createTask(req('a2', 'nodots'))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(tm.createTask(req('../escape', runc.runtime))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(tm.createTask({ ...req('a3', runc.runtime), namespace: 'bad/ns' })).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(tm.createTask(req('a4', runc.runtime, { spec: undefined }))).rejects.toMatchObject({
      kind: 'invalid-argument', message: expect.stringContaining('spec'),
    });
    await expect(tm.createTask(req('a5', runc.runtime, { spec: 'not an object' }))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(tm.start(env.namespace, 'nosuch')).rejects.toMatchObject({ kind: 'not-found' });
    await expect(tm.delete(env.namespace, 'nosuch')).rejects.toMatchObject({ kind: 'not-found' });
    await expectNothingLeft();
  });

  it('a shim that prints garbage on start', async () => {
    const { tm } = ctx;
    const shim = await shimScript('garbage-shim', 'echo "this is not an address"');
    await expect(tm.createTask(req('g1', shim))).rejects.toMatchObject({
      kind: 'internal', message: expect.stringContaining('this is not an address'),
    });
    await expectNothingLeft();
  });

  it('a shim that exits non-zero on start', async () => {
    const { tm } = ctx;
    const shim = await shimScript('failing-shim', 'echo "cannot start: boom" >&2; exit 3');
    await expect(tm.createTask(req('f1', shim))).rejects.toMatchObject({
      kind: 'unavailable', message: expect.stringMatching(/cannot start: boom.*exit status 3/),
    });
    await expectNothingLeft();
  });

  it('a shim that hangs on start is killed at the deadline', async () => {
    const { tm } = ctx;
    const shim = await shimScript('hanging-shim', `sleep ${marker}`);
    await expect(tm.createTask(req('h1', shim))).rejects.toMatchObject({
      kind: 'deadline-exceeded', message: expect.stringContaining('did not answer within 1500 ms'),
    });
    await expect.poll(() => processesWith(`sleep ${marker}`)).toEqual([]);
    await expectNothingLeft();
  });

  it('a shim that prints an address nobody serves', async () => {
    const { env, tm } = ctx;
    const shim = await shimScript('liar-shim', `printf 'unix://${env.dir}/nobody.sock'`);
    await expect(tm.createTask(req('l1', shim))).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('nobody.sock') });
    await expectNothingLeft();
  });

  it('a task whose runc create fails is undone, shim included', async () => {
    const { env, tm } = ctx;
    const spec = podSpec(['/no/such/binary'], 'bad1');
    await expect(tm.createTask(req('bad1', runc.runtime, { spec }))).rejects.toMatchObject({ kind: 'unknown' });
    await expectNothingLeft();
    await expect.poll(() => shimServers(env.namespace), { timeout: 5_000 }).toEqual([]);
  });
});
