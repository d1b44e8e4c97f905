// ImageFsInfo's figures (ImageService.fsUsage) against the real `du` of the snapshot and content
// trees after pulls, a container's writes, removals and GC, a reopen and a reopen of a store
// recorded before usage was kept; and that a call walks nothing (every lstat, stat and readdir
// of node:fs counted through a spy).
import { Level } from 'level';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { busyboxLayer, makeImage, makeLayer, type BuiltImage } from '../test/fixtures/oci-image.js';
import { bundleEntry } from '../test/helpers/bundle.js';
import { du } from '../test/helpers/du.js';
import { startFakeRegistry } from '../test/helpers/registry.js';
import { ImageService, type ImageServiceOptions } from './image-service.js';
import type { ImageDb } from './json-table.js';

// Hoisted with the mocks: every lstat/stat/readdir of node:fs, sync or not, goes through `counted`.
const fsCalls = vi.hoisted(() => {
  const calls = { n: 0, names: [] as string[], counted: <T extends object>(real: T): T => real };
  calls.counted = <T extends object>(real: T): T => {
    const out = { ...real } as Record<string, unknown>;
    for (const name of ['lstat', 'stat', 'readdir', 'opendir', 'lstatSync', 'statSync', 'readdirSync', 'opendirSync']) {
      const f = (real as Record<string, unknown>)[name];
      if (typeof f !== 'function') continue;
      out[name] = (...args: unknown[]) => {
        calls.n++;
        calls.names.push(name);
        return (f as (...a: unknown[]) => unknown)(...args);
      };
    }
    return out as T;
  };
  return calls;
});
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const c = fsCalls.counted(real);
  return { ...c, default: c };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const c = fsCalls.counted(real);
  return { ...c, default: c };
});

/** fs reads (lstat, stat, readdir, sync or not) made while `fn` runs. */
async function fsReadsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  fsCalls.names = [];
  const before = fsCalls.n;
  await fn();
  expect(fsCalls.names).toHaveLength(fsCalls.n - before);
  return fsCalls.names;
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let worker: string;
let imgA: BuiltImage;
let imgB: BuiltImage;
let host: string;
beforeAll(async () => {
  worker = await bundleEntry('image/unpack-worker.ts');
  const base = await busyboxLayer();
  imgA = makeImage([base, await makeLayer([
    { name: 'hello-a', content: 'from A\n' }, { name: 'etc/.wh.group' }, { name: 'data/', type: 'directory' },
    { name: 'data/big', content: Buffer.alloc(300_000, 1) }, { name: 'data/big-link', type: 'link', linkname: 'data/big' },
  ])]);
  imgB = makeImage([base, await makeLayer([{ name: 'hello-b', content: 'from B\n' }])]);
  const manifests = new Map<string, { data: Buffer; mediaType: string }>();
  const blobs = new Map<string, Buffer>();
  for (const [tag, img] of [['a', imgA], ['b', imgB]] as const) {
    manifests.set(tag, { data: img.manifest.data, mediaType: img.manifest.mediaType });
    for (const b of [img.config, ...img.layers]) blobs.set(b.digest, b.data);
  }
  const reg = await startFakeRegistry({ manifests, blobs });
  host = reg.host;
  return async () => {
    await reg.stop();
    await fs.rm(worker, { force: true });
  };
});

async function openAt(dir: string, extra: Partial<ImageServiceOptions>) {
  const db = new Level<string, unknown>(path.join(dir, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
  await db.open();
  const svc = await ImageService.open({ root: path.join(dir, 'root'), db, ...extra });
  const close = async () => {
    await svc.unpacker.close();
    await db.close();
  };
  cleanups.push(close);
  return { svc, db, close };
}

async function tempDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-fsusage-'));
  cleanups.push(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

/** du of what ImageFsInfo covers: the snapshot and content trees. */
const duOf = (svc: ImageService) => du(svc.snapshots.dir, path.join(svc.root, 'content'));

async function expectDu(svc: ImageService): Promise<void> {
  const u = await svc.fsUsage();
  expect({ bytes: u.usedBytes, inodes: u.inodesUsed }).toEqual(await duOf(svc));
}

describe.each([
  ['on the unpack worker', true],
  ['on the main thread', false],
])('ImageFsInfo with layers unpacked %s', (_name, threaded) => {
  const options = (): Partial<ImageServiceOptions> => (threaded ? { unpackWorker: worker, unpackWorkerMinBytes: 0 } : { unpackWorker: false });

  it('equals du after pulls, a container\'s writes, removals and GC', async () => {
    const { svc } = await openAt(await tempDir(), options());
    if (threaded) await svc.unpacker.ready();
    await expectDu(svc);
    const a = await svc.pull(`${host}/test:a`);
    await expectDu(svc);
    const b = await svc.pull(`${host}/test:b`);
    await expectDu(svc);
    expect(a.chainIds[0]).toBe(b.chainIds[0]);

    // a container writes into its rw snapshot: ContainerStats measures it, ImageFsInfo then counts it
    await svc.prepareRootfs('ctr1', a.id);
    await expectDu(svc);
    const upper = svc.rootfsMounts('ctr1')[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    await fs.writeFile(path.join(upper, 'written'), Buffer.alloc(200_000, 2));
    const rw = path.dirname(upper);
    expect((await svc.rootfsUsage('ctr1', 0))!.usage).toEqual(await du(rw));
    await expectDu(svc);

    // the image goes, its layers stay for the container, its blobs go (GC)
    await svc.remove(a.id);
    expect(svc.snapshots.list()).toHaveLength(4);
    await expectDu(svc);
    await svc.removeRootfs('ctr1');
    expect(await svc.gc()).toEqual({ blobs: 0, snapshots: 1 });
    await expectDu(svc);
    await svc.remove(b.id);
    expect(await fs.readdir(svc.snapshots.dir)).toEqual([]);
    await expectDu(svc);
    expect((await svc.fsUsage()).inodesUsed).toBe(5); // the store's own five directories
  });
});

describe('ImageFsInfo', () => {
  it('walks nothing per call: after a change only the store\'s five directories are looked at, then nothing', async () => {
    const { svc } = await openAt(await tempDir(), { unpackWorker: false });
    await svc.pull(`${host}/test:a`);
    await svc.pull(`${host}/test:b`);
    await svc.prepareRootfs('ctr1', `${host}/test:a`);
    expect(await fsReadsDuring(() => svc.fsUsage())).toEqual(Array(5).fill('lstatSync'));
    expect(await fsReadsDuring(async () => {
      for (let i = 0; i < 200; i++) await svc.fsUsage();
    })).toEqual([]);
    await expectDu(svc);
  });

  it('starts one refresh of a container\'s stale figure behind its answer, never waiting for it', async () => {
    const { svc } = await openAt(await tempDir(), { unpackWorker: false });
    const a = await svc.pull(`${host}/test:a`);
    await svc.prepareRootfs('ctr1', a.id);
    const upper = svc.rootfsMounts('ctr1')[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    await fs.writeFile(path.join(upper, 'written'), Buffer.alloc(100_000, 3));
    const before = await svc.fsUsage();
    // not measured since the write: the answer is the figure from prepare, with its time
    expect(before.usedBytes).toBeLessThan((await duOf(svc)).bytes);
    const later = Date.now() + 60_000;
    const now = vi.spyOn(Date, 'now').mockReturnValue(later);
    try {
      const stale = await svc.fsUsage();
      expect(stale.usedBytes).toBe(before.usedBytes); // answered at once from the old figure
      expect(stale.timestamp).toBe(before.timestamp);
      await vi.waitFor(async () => expect((await svc.fsUsage()).timestamp).toBe(later));
    } finally {
      now.mockRestore();
    }
    await expectDu(svc);
  });

  it('keeps its figures across a reopen without measuring anything again', async () => {
    const dir = await tempDir();
    const first = await openAt(dir, { unpackWorker: false });
    await first.svc.pull(`${host}/test:a`);
    await first.svc.pull(`${host}/test:b`);
    const before = await first.svc.fsUsage();
    await first.close();
    let again: ImageService | undefined;
    const reads = await fsReadsDuring(async () => {
      again = (await openAt(dir, { unpackWorker: false })).svc;
    });
    // the two directory listings of open (leftovers, blobs), no lstat of a blob or snapshot
    expect(reads.filter((r) => r !== 'readdir' && r !== 'readdirSync')).toEqual([]);
    const after = await again!.fsUsage();
    expect([after.usedBytes, after.inodesUsed]).toEqual([before.usedBytes, before.inodesUsed]);
    await expectDu(again!);
  });

  it('measures once what a store recorded before usage was kept, and records it', async () => {
    const dir = await tempDir();
    const first = await openAt(dir, { unpackWorker: false });
    await first.svc.pull(`${host}/test:a`);
    await first.svc.prepareRootfs('ctr1', `${host}/test:a`);
    // the records as an older berth wrote them: no usage on snapshots, no content figures
    const snaps = first.db.sublevel<string, Record<string, unknown>>('snapshots', { valueEncoding: 'json' });
    for await (const [key, rec] of snaps.iterator()) {
      delete rec.usage;
      await snaps.put(key, rec);
    }
    await first.db.sublevel('content', { valueEncoding: 'json' }).clear();
    await first.close();
    const upgraded = await openAt(dir, { unpackWorker: false });
    // the container's rw snapshot is measured behind the first call after a start
    await vi.waitFor(() => expectDu(upgraded.svc));
    await upgraded.close();
    const reads = await fsReadsDuring(async () => {
      await openAt(dir, { unpackWorker: false });
    });
    expect(reads.filter((r) => r !== 'readdir' && r !== 'readdirSync')).toEqual([]);
  });
});
