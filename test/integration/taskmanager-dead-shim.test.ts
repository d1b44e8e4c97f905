// A shim killed with SIGKILL: the daemon notices the closed connection, reports every task of
// that shim exited (status from `<shim> delete`), and leaves no mount, socket, FIFO or bundle.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { TaskExit } from '../../taskmanager/index.js';
import {
  TEST_RUNTIMES, isAlive, mountsUnder, podSpec, rootfsMounts, shimServers, shimSocketPath, useTestTaskManager,
} from '../helpers/tm-daemon-env.js';

const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];

describe.each(TEST_RUNTIMES.filter((r) => r.enabled))('dead shim with $runtime', (rt) => {
  const ctx = useTestTaskManager(rt);


  it('reports every task of a SIGKILLed shim exited within 2 s and cleans up', async () => {
    const { env, tm, exits } = ctx;
    const ns = env.namespace;
    const published: TaskExit[] = [];
    exits.subscribe('test', (e) => { published.push(e); });
    for (const id of ['sb2', 'c1', 'c2']) {
      await tm.createTask({ namespace: ns, id, runtime: rt.runtime, spec: podSpec(LOOP, 'sb2'), rootfs: rootfsMounts(env) });
      await tm.start(ns, id);
    }
    const [shimPid] = await shimServers(ns);
    expect(shimPid).toBe(tm.shimPid(ns, 'sb2'));
    const containerPids = (await Promise.all(['sb2', 'c1', 'c2'].map((id) => tm.state(ns, id)))).map((s) => s.pid);

    process.kill(shimPid!, 'SIGKILL');
    await expect.poll(() => published.length, { timeout: 2_000, interval: 50 }).toBe(3);
    expect(published.map((e) => e.containerId).sort()).toEqual(['c1', 'c2', 'sb2']);
    for (const e of published) {
      expect(e.id).toBe(e.containerId);
      expect(e.exitStatus).toBe(137); // what containerd-shim-runc-v2 `delete` reports
    }

    // Cleanup finished: no tasks, bundles, mounts, FIFOs, shim socket or container processes.
    await expect.poll(() => tm.list().length, { timeout: 2_000 }).toBe(0);
    await expect.poll(() => readdir(`${env.stateDir}/${ns}`), { timeout: 2_000 }).toEqual([]);
    expect(await mountsUnder(env.dir)).toEqual([]);
    expect(existsSync(shimSocketPath(env, 'sb2'))).toBe(false);
    for (const pid of containerPids) await expect.poll(() => isAlive(pid), { timeout: 2_000 }).toBe(false);
    expect(await readdir(`${env.rootDir}/${ns}`)).toEqual([]);
    // Exactly one exit each: a late Wait error or event does not add another.
    await new Promise((r) => setTimeout(r, 200));
    expect(published).toHaveLength(3);
  });
});
