import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { du } from '../test/helpers/du.js';
import { diskUsage, entryUsage, NO_USAGE } from './disk-usage.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-du-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('diskUsage', () => {
  it('counts what du counts: blocks and inodes, hard links once, symlinks, fifos, sparse files and empty dirs', async () => {
    const root = path.join(tmp, 'tree');
    await fs.mkdir(path.join(root, 'a/b/c'), { recursive: true });
    await fs.mkdir(path.join(root, 'empty'));
    await fs.writeFile(path.join(root, 'a/data'), Buffer.alloc(100_000, 7));
    await fs.link(path.join(root, 'a/data'), path.join(root, 'a/b/data-link'));
    await fs.link(path.join(root, 'a/data'), path.join(root, 'data-link2'));
    await fs.writeFile(path.join(root, 'a/b/c/small'), 'x');
    await fs.writeFile(path.join(root, 'zero'), '');
    await fs.symlink('a/data', path.join(root, 'sym'));
    execFileSync('mkfifo', [path.join(root, 'a/fifo')]);
    const sparse = await fs.open(path.join(root, 'sparse'), 'w');
    await sparse.write('end', 50 << 20); // 50 MiB apparent, one block in use
    await sparse.close();
    const got = await diskUsage(root);
    expect(got).toEqual(await du(root));
    expect(got.inodes).toBe(11);
    expect(got.bytes).toBeLessThan(1 << 20);
  });

  it('yields to the event loop while it walks a big tree, and still counts every entry', async () => {
    const root = path.join(tmp, 'wide');
    await fs.mkdir(root);
    for (let d = 0; d < 4; d++) {
      await fs.mkdir(path.join(root, `d${d}`));
      await Promise.all(Array.from({ length: 300 }, (_, i) => fs.writeFile(path.join(root, `d${d}`, `f${i}`), '')));
    }
    let ticks = 0;
    let walking = true;
    const tick = () => {
      ticks++;
      if (walking) setImmediate(tick);
    };
    setImmediate(tick);
    const got = await diskUsage(root);
    walking = false;
    expect(got).toEqual(await du(root));
    expect(got.inodes).toBe(1 + 4 + 1200);
    // 1205 entries in slices of 256: the loop ran between the slices
    expect(ticks).toBeGreaterThanOrEqual(4);
  });

  it('measures a missing root as nothing, and one entry alone with entryUsage', async () => {
    expect(await diskUsage(path.join(tmp, 'nosuch'))).toEqual(NO_USAGE);
    expect(entryUsage(path.join(tmp, 'nosuch'))).toEqual(NO_USAGE);
    await fs.writeFile(path.join(tmp, 'f'), Buffer.alloc(10_000));
    expect(entryUsage(path.join(tmp, 'f'))).toEqual(await du(path.join(tmp, 'f')));
  });
});
