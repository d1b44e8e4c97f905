// One shim per pod with the real containerd-shim-runc-v2: a pause-like task and three containers
// of the same sandbox share ONE shim process; every exit code arrives through Wait; exec works.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  TEST_RUNTIMES, makeOciSpecForGroup, mountsUnder, podSpec, rootfsMounts, shimServers, shimSocketPath, useTestTaskManager,
} from '../helpers/tm-daemon-env.js';

const PAUSE = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];

function collect(stream: NodeJS.ReadableStream | undefined): () => string {
  let text = '';
  stream?.on('data', (d: Buffer) => { text += d.toString('utf8'); });
  return () => text;
}

describe.each(TEST_RUNTIMES.filter((r) => r.enabled))('task manager with $runtime', (rt) => {
  const ctx = useTestTaskManager(rt);


  it('runs a pod of 4 tasks on one shim and observes every exit', async () => {
    const { env, tm } = ctx;
    const ns = env.namespace;
    const sb = 'sb1';
    const events: string[] = [];
    tm.onEvent((ev) => { events.push(`${ev.namespace} ${ev.event.topic}`); });
    const create = (id: string, args: string[]) =>
      tm.createTask({ namespace: ns, id, runtime: rt.runtime, spec: podSpec(args, sb), rootfs: rootfsMounts(env) });

    const sandbox = await create(sb, PAUSE);
    expect(await tm.start(ns, sb)).toBeGreaterThan(0);
    const c0 = await create('c0', ['sh', '-c', 'echo hello-c0']);
    const c0out = collect(c0.stdout);
    const c3 = await create('c3', ['sh', '-c', 'echo oops >&2; exit 3']);
    const c3err = collect(c3.stderr);
    const ck = await create('ck', ['sleep', '1000']);
    expect(new Set([sandbox.shimAddress, c0.shimAddress, c3.shimAddress, ck.shimAddress]).size).toBe(1);
    expect(sandbox.shimAddress).toBe(`unix://${shimSocketPath(env, sb)}`);

    for (const id of ['c0', 'c3', 'ck']) await tm.start(ns, id);
    const shims = await shimServers(ns);
    expect(shims).toHaveLength(1);
    expect(tm.shimPid(ns, 'ck')).toBe(shims[0]);

    expect((await tm.wait(ns, 'c0')).exitStatus).toBe(0);
    expect((await tm.wait(ns, 'c3')).exitStatus).toBe(3);
    expect((await tm.state(ns, 'ck')).status).toBe('running');
    await tm.kill(ns, 'ck', 9);
    const killed = await tm.wait(ns, 'ck');
    expect(killed.exitStatus).toBe(137);
    expect(killed.pid).toBe(ck.pid);
    await expect.poll(c0out).toBe('hello-c0\n');
    await expect.poll(c3err).toBe('oops\n');

    // The shim's events reach the daemon's Events/Forward service.
    await expect.poll(() => events.filter((e) => e === `${ns} /tasks/exit`).length).toBeGreaterThanOrEqual(3);
    expect(events).toContain(`${ns} /tasks/create`);
    expect(events).toContain(`${ns} /tasks/start`);

    // The state the shim reports agrees with the recorded exit.
    const st3 = await tm.state(ns, 'c3');
    expect(st3.status).toBe('stopped');
    expect(st3.exitStatus).toBe(3);

    // Exec in the running sandbox: exit code and output.
    const ex = await tm.exec(ns, sb, 'ex1', {
      spec: { args: ['sh', '-c', 'echo exec-out; exit 5'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 }, terminal: false },
    });
    const exOut = collect(ex.stdout);
    expect(await tm.startExec(ns, sb, 'ex1')).toBeGreaterThan(0);
    expect((await tm.wait(ns, sb, 'ex1')).exitStatus).toBe(5);
    await expect.poll(exOut).toBe('exec-out\n');
    expect((await tm.deleteExec(ns, sb, 'ex1')).exitStatus).toBe(5);

    // Pids, pause/resume, update and stats on the running sandbox.
    expect((await tm.pids(ns, sb)).map((p) => p.pid)).toContain(sandbox.pid);
    await tm.pause(ns, sb);
    expect((await tm.state(ns, sb)).status).toBe('paused');
    await tm.resume(ns, sb);
    expect((await tm.state(ns, sb)).status).toBe('running');
    await tm.update(ns, sb, { cpu: { shares: 512 } });
    expect((await tm.stats(ns, sb)).typeUrl).toMatch(/^io\.containerd\.cgroups\.v[12]\.Metrics$/);

    // A running task cannot be deleted (the shim's own error comes back typed).
    await expect(tm.delete(ns, sb)).rejects.toMatchObject({ kind: 'unknown', message: expect.stringMatching(/running/) });

    for (const id of ['c0', 'c3', 'ck']) await tm.delete(ns, id);
    expect(await shimServers(ns)).toHaveLength(1); // the sandbox still holds the shim
    await tm.kill(ns, sb, 15);
    expect((await tm.wait(ns, sb)).exitStatus).toBe(0);
    expect((await tm.delete(ns, sb)).exitStatus).toBe(0);

    // Last task gone: Shutdown stopped the shim; nothing is left behind.
    await expect.poll(() => shimServers(ns), { timeout: 5_000 }).toHaveLength(0);
    expect(existsSync(shimSocketPath(env, sb))).toBe(false);
    expect(existsSync(`${env.stateDir}/${ns}/${sb}`)).toBe(false);
    expect(await mountsUnder(env.dir)).toEqual([]);
  });

  it('runs a task with a terminal (pty) and resizes it', async () => {
    const { env, tm } = ctx;
    const ns = env.namespace;
    const spec = podSpec(['sh', '-c', 'stty size; sleep 0.5; stty size'], 'tty1');
    spec.process.terminal = true;
    const t = await tm.createTask({ namespace: ns, id: 'tty1', runtime: rt.runtime, spec, rootfs: rootfsMounts(env), terminal: true });
    expect(t.stderr).toBeUndefined();
    const out = collect(t.stdout);
    await tm.start(ns, 'tty1');
    await tm.resizePty(ns, 'tty1', 100, 30);
    expect((await tm.wait(ns, 'tty1')).exitStatus).toBe(0);
    await expect.poll(out).toMatch(/30 100\r?\n$/);
    await tm.delete(ns, 'tty1');
  });

  it('feeds stdin, closes it with CloseIO, and kills all processes of a task', async () => {
    const { env, tm } = ctx;
    const ns = env.namespace;
    const cat = await tm.createTask({ namespace: ns, id: 'cat1', runtime: rt.runtime, spec: podSpec(['cat'], 'io1'), rootfs: rootfsMounts(env), stdin: true });
    const out = collect(cat.stdout);
    await tm.start(ns, 'cat1');
    cat.stdin!.write('ping\n');
    await expect.poll(out).toBe('ping\n');
    await tm.closeIO(ns, 'cat1');
    expect((await tm.wait(ns, 'cat1')).exitStatus).toBe(0);
    await tm.delete(ns, 'cat1');

    await tm.createTask({ namespace: ns, id: 'many', runtime: rt.runtime, spec: podSpec(['sh', '-c', 'sleep 1000 & sleep 1000 & wait'], 'io1'), rootfs: rootfsMounts(env) });
    await tm.start(ns, 'many');
    await expect.poll(async () => (await tm.pids(ns, 'many')).length).toBe(3);
    await tm.kill(ns, 'many', 9, { all: true });
    expect((await tm.wait(ns, 'many')).exitStatus).toBe(137);
    await tm.delete(ns, 'many');
    await expect.poll(() => shimServers(ns), { timeout: 5_000 }).toEqual([]);
  });
});

// A wrapper around the real runc shim that logs each action word, to count `<shim> start` runs.
describe('task manager: the pod shim is reused without `<shim> start`', () => {
  const ctx = useTestTaskManager({ runtime: 'io.containerd.runc.v2' });

  it('runs `start` once per pod; a task with its own group annotation still gets `start`', async () => {
    const { env, tm } = ctx;
    const ns = env.namespace;
    const log = path.join(env.dir, 'shim-actions');
    const wrapper = path.join(env.dir, 'containerd-shim-runc-v2');
    writeFileSync(wrapper, `#!/bin/sh\nfor a; do last=$a; done\necho "$last" >> ${log}\nexec /usr/bin/containerd-shim-runc-v2 "$@"\n`);
    chmodSync(wrapper, 0o755);
    env.runtimePaths['io.containerd.runc.v2'] = wrapper;
    const starts = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l === 'start').length : 0);
    const create = (id: string, spec: unknown) => tm.createTask({ namespace: ns, id, runtime: 'io.containerd.runc.v2', spec, rootfs: rootfsMounts(env) });

    const sb = await create('sb', podSpec(PAUSE, 'sb'));
    await tm.start(ns, 'sb');
    const c1 = await create('c1', podSpec(['sleep', '1000'], 'sb'));
    const c2 = await create('c2', podSpec(['sleep', '1000'], 'sb'));
    expect(starts()).toBe(1);
    expect(new Set([sb.shimAddress, c1.shimAddress, c2.shimAddress]).size).toBe(1);
    // the bundle gets the address file the shim would have written
    expect(readFileSync(path.join(c1.bundle, 'address'), 'utf8')).toBe(sb.shimAddress);
    expect(await shimServers(ns)).toHaveLength(1);

    const own = await create('g1', makeOciSpecForGroup(['sleep', '1000'], 'sb', 'elsewhere'));
    expect(starts()).toBe(2);
    expect(own.shimAddress).not.toBe(sb.shimAddress);
    expect(await shimServers(ns)).toHaveLength(2);

    for (const id of ['c1', 'c2', 'g1', 'sb']) {
      await tm.kill(ns, id, 9);
      await tm.wait(ns, id);
      await tm.delete(ns, id);
    }
    await expect.poll(() => shimServers(ns), { timeout: 5_000 }).toEqual([]);
  });
});
