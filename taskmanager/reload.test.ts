// Reload over bundles that cannot be reconnected (no real shim needed): leftovers (and `.<id>`
// dirs of removals cut short) are removed,
// a bundle whose shim is gone gets `<shim> delete` and its exit (255 when delete fails), and the
// bundle stays until that exit was handled.
import { existsSync, rmdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cgroupDir } from '../sys/index.js';
import { ExitMonitor, TaskManager, type TaskExit } from './index.js';

describe('reload of broken bundles', () => {
  let dir: string;
  let tm: TaskManager;
  let exits: ExitMonitor;
  const ns = 'reload-ns';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-reload-'));
    exits = new ExitMonitor({ retryInitialMs: 20 });
    tm = await TaskManager.open({
      stateDir: path.join(dir, 'state'), rootDir: path.join(dir, 'root'), grpcAddress: path.join(dir, 'd.sock'),
      ttrpcAddress: path.join(dir, 'd.sock.ttrpc'), exits, connectTimeoutMs: 500,
    });
  });

  afterEach(async () => {
    await tm.close();
    exits.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes leftovers and reports tasks of vanished shims exited', async () => {
    const state = path.join(dir, 'state', ns);
    await mkdir(path.join(state, 'empty'), { recursive: true });
    await mkdir(path.join(state, 'nobinary'));
    await writeFile(path.join(state, 'nobinary', 'config.json'), '{}');
    await mkdir(path.join(state, '.hidden', 'rootfs'), { recursive: true }); // a removal cut short after its rename
    await mkdir(path.join(state, '.not valid')); // not a bundle's
    await mkdir(path.join(dir, 'root', ns, 'orphan'), { recursive: true }); // a work dir whose bundle is gone
    // A shim whose socket is gone and whose `delete` fails: exit 255.
    const shim = path.join(dir, 'broken-shim');
    await writeFile(shim, `#!/bin/sh\necho "delete: no runtime file" >&2\nexit 1\n`);
    await chmod(shim, 0o755);
    await mkdir(path.join(state, 'gone'));
    await writeFile(path.join(state, 'gone', 'config.json'), '{}');
    await writeFile(path.join(state, 'gone', 'shim-binary-path'), shim);
    await writeFile(path.join(state, 'gone', 'address'), `unix://${dir}/no-such.sock`);
    const seen: TaskExit[] = [];
    // The subscriber fails until released: the dead task's bundle stays until its exit is handled.
    let storeUp = false;
    exits.subscribe('test', (e) => {
      if (!storeUp) throw new Error('store not ready');
      seen.push(e);
    });

    const outcomes = await tm.reload();
    expect(outcomes.map((o) => `${o.id}:${o.kind}`).sort()).toEqual(['empty:removed', 'gone:dead', 'nobinary:removed']);
    const gone = outcomes.find((o) => o.id === 'gone');
    expect(gone?.kind === 'dead' && gone.exit.exitStatus).toBe(255);
    await new Promise((r) => setTimeout(r, 100)); // a few failed deliveries
    expect((await readdir(state)).sort()).toEqual(['.not valid', 'gone']);
    expect(await readdir(path.join(dir, 'root', ns))).toEqual([]);
    storeUp = true;
    await expect.poll(() => seen.map((e) => [e.containerId, e.exitStatus])).toEqual([['gone', 255]]);
    await expect.poll(() => readdir(state)).toEqual(['.not valid']);
    expect(exits.size).toBe(0); // handled and forgotten
    expect(tm.list()).toEqual([]);
  });

  // A start cut short by a crash: runc made the task's cgroup, nothing of the task is left, and
  // its bundle never got an address (docs/crash-safety.md).
  it('removes the cgroup of a task whose start was cut short once its exit was handled', async () => {
    const cgroup = `/berth-reload-test-${process.pid}/cut`;
    const dirs = ['pids', 'memory'].map((c) => cgroupDir(cgroup, c));
    for (const d of dirs) await mkdir(d, { recursive: true });
    try {
      const state = path.join(dir, 'state', ns);
      await mkdir(path.join(state, 'cut'), { recursive: true });
      await writeFile(path.join(state, 'cut', 'config.json'), JSON.stringify({ linux: { cgroupsPath: cgroup } }));
      await writeFile(path.join(state, 'cut', 'shim-binary-path'), '/bin/false'); // its `delete` fails
      const seen: string[] = [];
      exits.subscribe('test', (e) => { seen.push(e.containerId); });
      const outcomes = await tm.reload();
      expect(outcomes.map((o) => `${o.id}:${o.kind}`)).toEqual(['cut:dead']);
      await expect.poll(() => readdir(state)).toEqual([]);
      expect(seen).toEqual(['cut']);
      expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    } finally {
      for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => undefined);
      for (const d of dirs) rmdirSync(path.dirname(d));
    }
  });
});
