// The daemon as a real child process, killed with SIGKILL while its tasks run: one task exits
// while it is down; after restart, reload reconnects every shim with Connect, records the exited
// task's REAL exit code, keeps observing the others, and loses no stdout output.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Level } from 'level';
import { exitKey } from '../../taskmanager/index.js';
import { TmDaemonProcess } from '../helpers/tm-daemon-client.js';
import type { TmDaemonConfig } from '../helpers/tm-daemon.js';
import {
  TEST_RUNTIMES, destroyTmEnv, isAlive, makeTmEnv, mountsUnder, shimServers, shimSocketPath, type TmEnv,
} from '../helpers/tm-daemon-env.js';

const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];
const COUNTER = ['sh', '-c', 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'];
// Exits 7 once the test drops /tmp/quit-now into the (shared) rootfs.
const QUITTER = ['sh', '-c', 'while [ ! -e /tmp/quit-now ]; do sleep 0.05; done; echo bye; exit 7'];

async function counterLines(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map(Number);
}

describe.each(TEST_RUNTIMES.filter((r) => r.enabled))('daemon restart with $runtime', (rt) => {
  let env: TmEnv;
  let cfg: TmDaemonConfig;
  const daemons: TmDaemonProcess[] = [];

  beforeEach(async () => {
    env = await makeTmEnv(rt);
    cfg = {
      stateDir: env.stateDir, rootDir: env.rootDir, dbDir: env.dbDir, grpcAddress: env.grpcAddress, ttrpcAddress: env.ttrpcAddress,
      controlSocket: path.join(env.dir, 'control.sock'), outDir: path.join(env.dir, 'out'), runtime: rt.runtime,
      runtimePaths: env.runtimePaths, rootfs: env.rootfs, namespace: env.namespace,
    };
    await mkdir(cfg.outDir);
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.kill9();
    await destroyTmEnv(env);
  });

  it('reloads every shim after kill -9 and loses no exit and no output', async () => {
    const d1 = await TmDaemonProcess.start(cfg);
    daemons.push(d1);
    const tasks: Array<[string, string[], string]> = [
      ['sbr', LOOP, 'sbr'], ['counter', COUNTER, 'sbr'], ['quitter', QUITTER, 'sbr'], ['later', ['sleep', '1000'], 'sbr'],
      ['solo', LOOP, 'solo'], // a second pod: a second shim
    ];
    for (const [id, args, sandbox] of tasks) {
      expect((await d1.send({ op: 'create', id, args, sandbox })).ok).toBe(true);
      expect((await d1.send({ op: 'start', id })).ok).toBe(true);
    }
    expect(await shimServers(env.namespace)).toHaveLength(2);
    const outFile = path.join(cfg.outDir, 'counter.out');
    await expect.poll(async () => (await counterLines(outFile)).length, { timeout: 10_000 }).toBeGreaterThan(3);

    const quitterPid = (await d1.send({ op: 'state', id: 'quitter' })).result.pid as number;
    expect(quitterPid).toBeGreaterThan(0);
    await d1.kill9();
    // While the daemon is down: the quitter exits 7 (proved gone, not assumed after a sleep),
    // and the counter keeps writing into its FIFO.
    await writeFile(path.join(env.rootfs, 'tmp/quit-now'), '');
    await expect.poll(() => isAlive(quitterPid), { timeout: 10_000 }).toBe(false);
    const shimsBefore = await shimServers(env.namespace);
    expect(shimsBefore).toHaveLength(2);

    const d2 = await TmDaemonProcess.start(cfg);
    daemons.push(d2);
    const reload = await d2.until((r) => r.type === 'reload');
    expect((reload.outcomes as Array<{ kind: string; id: string }>).map((o) => `${o.id}:${o.kind}`).sort())
      .toEqual(['counter:reloaded', 'later:reloaded', 'quitter:reloaded', 'sbr:reloaded', 'solo:reloaded']);
    // The real exit code of the task that ended while the daemon was down.
    const quit = await d2.until((r) => r.type === 'exit' && r.containerId === 'quitter');
    expect(quit.exitStatus).toBe(7);
    expect(await shimServers(env.namespace)).toEqual(shimsBefore); // same shims, reconnected

    // The others are still running, and their later exits are observed.
    for (const id of ['sbr', 'counter', 'later', 'solo']) {
      expect((await d2.send({ op: 'state', id })).result.status).toBe('running');
    }
    await d2.send({ op: 'kill', id: 'later', signal: 9 });
    expect((await d2.until((r) => r.type === 'exit' && r.containerId === 'later')).exitStatus).toBe(137);
    await d2.send({ op: 'kill', id: 'solo', signal: 15 });
    expect((await d2.until((r) => r.type === 'exit' && r.containerId === 'solo')).exitStatus).toBe(0);

    // No counter line lost across the restart: 0, 1, 2, ... without a gap.
    const before = (await counterLines(outFile)).length;
    await expect.poll(async () => (await counterLines(outFile)).length, { timeout: 10_000 }).toBeGreaterThan(before + 5);
    await d2.send({ op: 'kill', id: 'counter', signal: 9 });
    expect((await d2.until((r) => r.type === 'exit' && r.containerId === 'counter')).exitStatus).toBe(137);
    const lines = await counterLines(outFile);
    expect(lines).toEqual(lines.map((_, i) => i));

    for (const id of ['counter', 'quitter', 'later', 'solo']) expect((await d2.send({ op: 'delete', id })).ok).toBe(true);
    await d2.send({ op: 'kill', id: 'sbr', signal: 15 });
    await d2.until((r) => r.type === 'exit' && r.containerId === 'sbr');
    expect((await d2.send({ op: 'delete', id: 'sbr' })).ok).toBe(true);
    await expect.poll(() => shimServers(env.namespace), { timeout: 5_000 }).toEqual([]);
    // Exactly one exit per task across both daemons' lifetimes.
    const all = [...d1.exits(), ...d2.exits()].map((e) => e.containerId).sort();
    expect(all).toEqual(['counter', 'later', 'quitter', 'sbr', 'solo']);
    await d2.shutdown();

    // The exits are durable where the subscriber keeps them (as the CRI store does).
    const db = new Level<string, { exitStatus: number }>(env.dbDir, { valueEncoding: 'json' });
    expect((await db.get(exitKey(env.namespace, 'quitter', 'quitter')))?.exitStatus).toBe(7);
    expect((await db.get(exitKey(env.namespace, 'later', 'later')))?.exitStatus).toBe(137);
    await db.close();
  });

  it('cleans up a shim that died while the daemon was down and reports its task exited', async () => {
    const d1 = await TmDaemonProcess.start(cfg);
    daemons.push(d1);
    for (const id of ['gone', 'gone-c']) {
      expect((await d1.send({ op: 'create', id, args: LOOP, sandbox: 'gone' })).ok).toBe(true);
      expect((await d1.send({ op: 'start', id })).ok).toBe(true);
    }
    await d1.kill9();
    const [shim] = await shimServers(env.namespace);
    process.kill(shim!, 'SIGKILL');
    await expect.poll(() => isAlive(shim!)).toBe(false);

    const d2 = await TmDaemonProcess.start(cfg);
    daemons.push(d2);
    const reload = await d2.until((r) => r.type === 'reload');
    expect(reload.outcomes).toEqual(expect.arrayContaining([
      { kind: 'dead', id: 'gone', exitStatus: 137 }, { kind: 'dead', id: 'gone-c', exitStatus: 137 },
    ]));
    await d2.until((r) => r.type === 'exit' && r.containerId === 'gone');
    await d2.until((r) => r.type === 'exit' && r.containerId === 'gone-c');
    // A dead shim's bundle goes once its exits were handled.
    await expect.poll(() => readdir(path.join(env.stateDir, env.namespace)), { timeout: 5_000 }).toEqual([]);
    expect(await mountsUnder(env.dir)).toEqual([]);
    expect(existsSync(shimSocketPath(env, 'gone'))).toBe(false);
    await d2.shutdown();
  });
});
