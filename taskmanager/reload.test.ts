// Reload over bundles that cannot be reconnected (no real shim needed): leftovers are removed,
// a bundle whose shim is gone gets `<shim> delete` and its exit (255 when delete fails).
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitMonitor, TaskManager, openExitDb, type TaskExit } from './index.js';

describe('reload of broken bundles', () => {
  let dir: string;
  let tm: TaskManager;
  let closeDb: () => Promise<void>;
  const ns = 'reload-ns';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-reload-'));
    const { db, close } = await openExitDb(path.join(dir, 'db'));
    closeDb = close;
    tm = await TaskManager.open({
      stateDir: path.join(dir, 'state'), rootDir: path.join(dir, 'root'), grpcAddress: path.join(dir, 'd.sock'),
      ttrpcAddress: path.join(dir, 'd.sock.ttrpc'), exits: new ExitMonitor({ db }), connectTimeoutMs: 500,
    });
  });

  afterEach(async () => {
    await tm.close();
    tm.exits.close();
    await closeDb();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes leftovers and reports tasks of vanished shims exited', async () => {
    const state = path.join(dir, 'state', ns);
    await mkdir(path.join(state, 'empty'), { recursive: true });
    await mkdir(path.join(state, 'nobinary'));
    await writeFile(path.join(state, 'nobinary', 'config.json'), '{}');
    await mkdir(path.join(state, '.hidden'));
    // A shim whose socket is gone and whose `delete` fails: exit 255.
    const shim = path.join(dir, 'broken-shim');
    await writeFile(shim, `#!/bin/sh\necho "delete: no runtime file" >&2\nexit 1\n`);
    await chmod(shim, 0o755);
    await mkdir(path.join(state, 'gone'));
    await writeFile(path.join(state, 'gone', 'config.json'), '{}');
    await writeFile(path.join(state, 'gone', 'shim-binary-path'), shim);
    await writeFile(path.join(state, 'gone', 'address'), `unix://${dir}/no-such.sock`);
    const seen: TaskExit[] = [];
    tm.exits.subscribe('test', (e) => { seen.push(e); });

    const outcomes = await tm.reload();
    expect(outcomes.map((o) => `${o.id}:${o.kind}`).sort()).toEqual(['empty:removed', 'gone:dead', 'nobinary:removed']);
    const gone = outcomes.find((o) => o.id === 'gone');
    expect(gone?.kind === 'dead' && gone.exit.exitStatus).toBe(255);
    await expect.poll(() => seen.map((e) => [e.containerId, e.exitStatus])).toEqual([['gone', 255]]);
    expect(await readdir(state)).toEqual(['.hidden']);
    expect(tm.list()).toEqual([]);
  });
});
