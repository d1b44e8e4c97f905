import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { Level } from 'level';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import {
  containerState, containerStatusView, makeContainerName, makeSandboxName, nanosFromTimestamp, openStore, sandboxState,
  type ContainerRecord, type Store,
} from './index.js';
import { containerRecord, sandboxRecord } from './testdata/records.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
let store: Store | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-store-'));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function open(): Promise<Store> {
  store = await openStore(dir);
  return store;
}
async function reopen(): Promise<Store> {
  await store?.close();
  return open();
}
async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error & { kind: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error & { kind: string };
  }
  throw new Error('expected a failure');
}

describe('records', () => {
  it('create, get, update, delete; frozen; duplicates and unknown ids refused', async () => {
    const s = await open();
    const sb = await s.sandboxes.create(sandboxRecord('sb1'));
    expect(Object.isFrozen(sb)).toBe(true);
    expect(Object.isFrozen(sb.metadata)).toBe(true);
    expect(() => { (sb as { pid: number }).pid = 1; }).toThrow(TypeError);
    expect((await rejection(s.sandboxes.create(sandboxRecord('sb1')))).kind).toBe('already-exists');
    expect((await rejection(() => s.sandboxes.get('nope'))).message).toBe('sandbox "nope" not found');
    expect((await rejection(s.sandboxes.update('nope', (r) => r))).kind).toBe('not-found');

    const next = await s.sandboxes.update('sb1', (r) => ({ ...r, stage: 'complete', readyAt: '1700000000100000000', pid: 77 }));
    expect(s.sandboxes.get('sb1')).toBe(next);
    expect(next.pid).toBe(77);
    expect(await s.sandboxes.delete('sb1')).toBe(true);
    expect(await s.sandboxes.delete('sb1')).toBe(false);
    expect(s.sandboxes.has('sb1')).toBe(false);
  });

  it('a throwing or invalid change leaves memory and disk untouched', async () => {
    const s = await open();
    const before = await s.containers.create(containerRecord('c1', 'sb1'));
    const err = await rejection(s.containers.update('c1', () => { throw new Error('change failed'); }));
    expect(err.message).toBe('change failed');
    expect((await rejection(s.containers.update('c1', (c) => ({ ...c, id: 'c2' })))).kind).toBe('invalid-argument');
    expect(s.containers.get('c1')).toBe(before);
    const s2 = await reopen();
    expect(s2.containers.get('c1')).toEqual(before);
  });

  it('serializes concurrent updates of one id', async () => {
    const s = await open();
    await s.containers.create(containerRecord('c1', 'sb1', { exitCode: 0 }));
    await Promise.all(Array.from({ length: 20 }, () => s.containers.update('c1', (c) => ({ ...c, exitCode: (c.exitCode ?? 0) + 1 }))));
    expect(s.containers.get('c1').exitCode).toBe(20);
  });

  it('indexes containers by sandbox and filters by labels', async () => {
    const s = await open();
    await s.containers.create(containerRecord('c2', 'sbA'));
    await s.containers.create(containerRecord('c1', 'sbA', { config: { labels: { tier: 'back' } } }));
    await s.containers.create(containerRecord('c3', 'sbB'));
    expect(s.containersOf('sbA').map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(s.containers.listByLabels({ tier: 'front' }).map((c) => c.id)).toEqual(['c2', 'c3']);
    expect(s.containers.listByLabels({ tier: 'front', other: 'x' })).toEqual([]);
    await s.containers.delete('c2');
    expect(s.containersOf('sbA').map((c) => c.id)).toEqual(['c1']);
    expect(s.containersOf('nope')).toEqual([]);
  });
});

describe('resolveId (truncindex)', () => {
  it('unique prefix, exact id, ambiguous, none, empty', async () => {
    const s = await open();
    await s.containers.create(containerRecord('abc123', 'sb'));
    await s.containers.create(containerRecord('abd456', 'sb'));
    await s.containers.create(containerRecord('abd4567', 'sb'));
    expect(s.containers.resolveId('abc')).toBe('abc123');
    expect(s.containers.resolveId('abd456')).toBe('abd456');
    const amb = await rejection(() => s.containers.resolveId('ab'));
    expect(amb.kind).toBe('invalid-argument');
    expect(amb.message).toBe('ambiguous id: container id prefix "ab" matches "abc123" and "abd456"');
    const none = await rejection(() => s.containers.resolveId('zz'));
    expect(none.kind).toBe('not-found');
    expect(none.message).toBe('container "zz" not found');
    expect((await rejection(() => s.containers.resolveId(''))).kind).toBe('invalid-argument');
    await s.containers.delete('abc123');
    expect((await rejection(() => s.containers.resolveId('abc'))).kind).toBe('not-found');
  });
});

describe('name reservations', () => {
  const pod = { name: 'web', namespace: 'default', uid: 'u-1', attempt: 2 };
  it('build containerd names', () => {
    expect(makeSandboxName(pod)).toBe('web_default_u-1_2');
    expect(makeContainerName({ name: 'app', attempt: 1 }, pod)).toBe('app_web_default_u-1_1');
  });

  it('one-to-one, idempotent, conflict names the holder, survive reopen', async () => {
    const s = await open();
    const name = makeSandboxName(pod);
    await s.sandboxNames.reserve(name, 'id1');
    await s.sandboxNames.reserve(name, 'id1');
    const conflict = await rejection(s.sandboxNames.reserve(name, 'id2'));
    expect(conflict.kind).toBe('already-exists');
    expect(conflict.message).toBe('name "web_default_u-1_2" is reserved for "id1"');
    expect((await rejection(s.sandboxNames.reserve('other', 'id1'))).kind).toBe('already-exists');
    // concurrent claims of one free name: exactly one wins
    const results = await Promise.allSettled([s.containerNames.reserve('n', 'a'), s.containerNames.reserve('n', 'b')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);

    const s2 = await reopen();
    expect(s2.sandboxNames.idOf(name)).toBe('id1');
    expect(s2.containerNames.idOf('n')).toBe('a');
    expect((await rejection(s2.sandboxNames.reserve(name, 'id2'))).message).toMatch(/is reserved for "id1"/);
    await s2.sandboxNames.releaseById('id1');
    await s2.sandboxNames.release('never-reserved');
    await s2.sandboxNames.reserve(name, 'id2');
    await s2.containerNames.release('n');
    const s3 = await reopen();
    expect(s3.sandboxNames.idOf(name)).toBe('id2');
    expect(s3.sandboxNames.nameOf('id1')).toBeUndefined();
    expect(s3.containerNames.entries()).toEqual([]);
  });
});

describe('exits', () => {
  it('never records a finish before the start (an exit stamped a moment before startedAt)', async () => {
    const s = await open();
    await s.containers.create(containerRecord('early', 'sb1', { startedAt: '1700000001190000000', pid: 7 }));
    await s.recordExit('early', { exitCode: 3, exitedAt: '1700000001189000000' });
    expect(s.containers.get('early')).toMatchObject({ exitCode: 3, finishedAt: '1700000001190000000' });
  });

  it('first exit wins (Wait vs TaskExit de-dup); OOM reason kept', async () => {
    const s = await open();
    await s.containers.create(containerRecord('c1', 'sb1', { startedAt: '1700000001000000000', pid: 99 }));
    await s.sandboxes.create(sandboxRecord('sb1', { stage: 'complete', readyAt: '1700000000100000000', pid: 5 }));
    expect(await s.recordOOM('c1')).toBe(true);
    expect(await s.recordExit('c1', { exitCode: 137, exitedAt: '1700000002000000000' })).toEqual({ target: 'container', recorded: true });
    expect(await s.recordExit('c1', { exitCode: 255, exitedAt: '1700000003000000000' })).toEqual({ target: 'container', recorded: false });
    const c = s.containers.get('c1');
    expect(c).toMatchObject({ exitCode: 137, finishedAt: '1700000002000000000', pid: 0, reason: 'OOMKilled' });
    expect(containerStatusView(c)).toMatchObject({ state: 'CONTAINER_EXITED', reason: 'OOMKilled', exitCode: 137 });

    expect(sandboxState(s.sandboxes.get('sb1'))).toBe('SANDBOX_READY');
    expect(await s.recordExit('sb1', { exitCode: 0, exitedAt: '1700000004000000000' })).toEqual({ target: 'sandbox', recorded: true });
    expect(await s.recordExit('sb1', { exitCode: 0, exitedAt: '1700000005000000000' })).toEqual({ target: 'sandbox', recorded: false });
    expect(s.sandboxes.get('sb1')).toMatchObject({ pid: 0, stoppedAt: '1700000004000000000' });
    expect(sandboxState(s.sandboxes.get('sb1'))).toBe('SANDBOX_NOTREADY');

    expect(await s.recordExit('ghost', { exitCode: 1, exitedAt: '1' })).toEqual({ target: 'none', recorded: false });
    expect(await s.recordOOM('ghost')).toBe(false);
    // an exit racing RemoveContainer: the removal holds the id's lock first
    await s.containers.create(containerRecord('c2', 'sb1'));
    const [, raced] = await Promise.all([s.containers.delete('c2'), s.recordExit('c2', { exitCode: 1, exitedAt: '9' })]);
    expect(raced).toEqual({ target: 'none', recorded: false });
    const s2 = await reopen();
    expect(s2.containers.get('c1').exitCode).toBe(137);
  });

  it('zero protobuf timestamps mean no time', () => {
    expect(nanosFromTimestamp({ seconds: -62135596800, nanos: 0 })).toBeUndefined();
    expect(nanosFromTimestamp({ seconds: 1700000000, nanos: 5 })).toBe('1700000000000000005');
  });
});

describe('state derivation', () => {
  const base = containerRecord('c', 'sb');
  const t = '1700000009000000000';
  const table: [string, Partial<ContainerRecord>, string, string][] = [
    ['created', {}, 'CONTAINER_CREATED', ''],
    ['running', { startedAt: t }, 'CONTAINER_RUNNING', ''],
    ['exited 0', { startedAt: t, finishedAt: t, exitCode: 0 }, 'CONTAINER_EXITED', 'Completed'],
    ['exited 1', { startedAt: t, finishedAt: t, exitCode: 1 }, 'CONTAINER_EXITED', 'Error'],
    ['start failed', { finishedAt: t, exitCode: 128, reason: 'StartError' }, 'CONTAINER_EXITED', 'StartError'],
    ['lost', { startedAt: t, finishedAt: t, exitCode: 255, reason: 'Unknown' }, 'CONTAINER_EXITED', 'Unknown'],
    ['no timestamps', { createdAt: '0' }, 'CONTAINER_UNKNOWN', ''],
  ];
  it.each(table)('%s', (_name, over, state, reason) => {
    const r = { ...base, ...over };
    expect(containerState(r)).toBe(state);
    expect(containerStatusView(r).reason).toBe(reason);
  });

  it('reports timestamps only where CRI shows them', () => {
    expect(containerStatusView({ ...base, startedAt: '5' })).toMatchObject({ startedAt: '5', finishedAt: '0' });
    expect(containerStatusView(base)).toMatchObject({ startedAt: '0', finishedAt: '0' });
  });

  it('sandbox: READY only when complete and not stopped', () => {
    const sb = sandboxRecord('s');
    expect(sandboxState(sb)).toBe('SANDBOX_NOTREADY');
    expect(sandboxState({ ...sb, stage: 'task', readyAt: '1' })).toBe('SANDBOX_NOTREADY');
    expect(sandboxState({ ...sb, stage: 'complete', readyAt: '1' })).toBe('SANDBOX_READY');
    expect(sandboxState({ ...sb, stage: 'complete', readyAt: '1', stoppedAt: '2' })).toBe('SANDBOX_NOTREADY');
  });
});

describe('restart', () => {
  it('reopening restores every record, name and index', async () => {
    const s = await open();
    await s.sandboxes.create(sandboxRecord('sb1', { stage: 'network', netnsPath: '/run/berth/netns/x', ip: '10.0.0.2', additionalIps: ['fd00::2'] }));
    await s.containers.create(containerRecord('c1', 'sb1', { resources: { cpuShares: 2 } }));
    await s.containers.create(containerRecord('c2', 'sb1'));
    await s.sandboxNames.reserve('web_default_uid1_0', 'sb1');
    await s.containerNames.reserve('app_web_default_uid1_0', 'c1');
    const sandboxes = s.sandboxes.list();
    const containers = s.containers.list();
    const s2 = await reopen();
    expect(s2.sandboxes.list()).toEqual(sandboxes);
    expect(s2.containers.list()).toEqual(containers);
    expect(s2.containersOf('sb1').map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(s2.containers.resolveId('c2')).toBe('c2');
    expect(s2.sandboxNames.idOf('web_default_uid1_0')).toBe('sb1');
    expect(s2.containerNames.nameOf('c1')).toBe('app_web_default_uid1_0');
    expect(s2.skipped).toEqual([]);
  });

  it('corrupt and unknown-version records are skipped and reported, never fatal', async () => {
    const s = await open();
    await s.containers.create(containerRecord('good', 'sb1'));
    await s.close();
    store = undefined;
    const raw = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    await raw.put('container/bad', '{not json');
    await raw.put('container/future', JSON.stringify({ ...containerRecord('future', 'sb1'), v: 2 }));
    await raw.put('container/shape', JSON.stringify({ ...containerRecord('shape', 'sb1'), pid: 'x' }));
    await raw.put('sandbox/moved', JSON.stringify(sandboxRecord('other')));
    await raw.put('name/sandbox/n1', 'null');
    await raw.close();
    const warnings: unknown[] = [];
    store = await openStore(dir, { log: { warn: (o: unknown) => warnings.push(o) } as never });
    expect(store.containers.list().map((c) => c.id)).toEqual(['good']);
    expect(store.skipped.map((x) => [x.id, x.reason.split(':')[0]])).toEqual([
      ['moved', 'record id "other" does not match its key'],
      ['bad', 'not JSON'],
      ['future', 'unsupported record version 2'],
      ['shape', 'field pid'],
      ['n1', 'not a JSON object'],
    ]);
    expect(warnings.length).toBeGreaterThanOrEqual(5);
  });

  it('a second open of a store in use is Unavailable', async () => {
    await open();
    const err = await rejection(openStore(dir));
    expect(isKind(err, 'unavailable')).toBe(true);
    expect(err.message).toMatch(/is in use by another process/);
  });
});

describe('durability', () => {
  const cacheDir = path.join(here, '../../node_modules/.cache/berth-test');
  let writer: string | undefined;
  afterAll(async () => {
    if (writer) await rm(writer, { force: true });
  });

  it('a process killed right after its writes loses nothing', async () => {
    writer = path.join(cacheDir, `store-crash-writer-${process.pid}.mjs`);
    await build({
      entryPoints: [path.join(here, 'testdata/crash-writer.ts')],
      bundle: true, platform: 'node', target: 'node20', format: 'esm', outfile: writer,
      external: ['level', 'classic-level', 'pino', 'koffi'], logLevel: 'error',
    });
    const err = await rejection(promisify(execFile)(process.execPath, [writer, dir]));
    expect((err as unknown as { signal: string }).signal).toBe('SIGKILL');
    expect((err as unknown as { stdout: string }).stdout).toBe('written\n');

    const s = await open();
    expect(s.sandboxes.get('sb1').metadata.name).toBe('web');
    expect(s.containers.get('c1')).toMatchObject({ pid: 0, exitCode: 3, startedAt: '1700000001000000000', finishedAt: '1700000002000000000' });
    expect(containerStatusView(s.containers.get('c1')).reason).toBe('Error');
    expect(s.sandboxNames.idOf('web_default_uid1_0')).toBe('sb1');
    expect(s.containerNames.idOf('app_web_default_uid1_0')).toBe('c1');
  });
});
