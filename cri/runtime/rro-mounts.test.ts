// Staging of recursive read-only mounts with real mounts (root): an rro bind of a tree with a
// sub-mount becomes a plain ro bind of a staged tree that is read-only at every level, a file
// mount included; release and the after-restart sweep leave no mount or directory behind.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { mountAll, readMountInfo, unmountAll } from '../../sys/index.js';
import type { OciSpec } from '../oci/index.js';
import { releaseRecursiveReadOnly, releaseStaleRecursiveReadOnly, rroDir, stageRecursiveReadOnly } from './rro-mounts.js';

let dir = '';
let dirs: { state: string };
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-rro-unit-'));
  dirs = { state: path.join(dir, 'state') };
  mkdirSync(path.join(dir, 'src'));
  mountAll([{ type: 'tmpfs', source: 'berth-rro-unit', options: ['size=64k'] }], path.join(dir, 'src'));
  mkdirSync(path.join(dir, 'src', 'sub'));
  mountAll([{ type: 'tmpfs', source: 'berth-rro-unit-sub', options: ['size=64k'] }], path.join(dir, 'src', 'sub'));
  writeFileSync(path.join(dir, 'file'), 'hosts\n');
});
afterEach(() => {
  unmountAll(dir);
  rmSync(dir, { recursive: true, force: true });
});

const mountsUnder = (p: string) => readMountInfo().filter((m) => m.mountPoint.startsWith(`${p}/`));

/** Only `mounts` is read; a proc and a tmpfs mount stand for the defaults. */
function specWith(mounts: OciSpec['mounts']): OciSpec {
  const defaults = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
  return { ociVersion: '1.0.2-dev', mounts: [...defaults, ...mounts] } as unknown as OciSpec;
}

describe('stageRecursiveReadOnly', () => {
  it('turns each rro bind into a ro bind of a staged tree read-only at every level; other mounts unchanged', async () => {
    const spec = specWith([
      { destination: '/data', type: 'bind', source: path.join(dir, 'src'), options: ['rbind', 'rprivate', 'rro'] },
      { destination: '/etc/x', type: 'bind', source: path.join(dir, 'file'), options: ['rbind', 'rprivate', 'rro'] },
      { destination: '/plain', type: 'bind', source: path.join(dir, 'src'), options: ['rbind', 'rprivate', 'ro'] },
    ]);
    const staged = await stageRecursiveReadOnly(dirs, 'c1', spec, silentLogger);
    const n = spec.mounts.length;
    expect(staged.mounts.slice(0, n - 3)).toEqual(spec.mounts.slice(0, n - 3));
    const [data, file, plain] = staged.mounts.slice(n - 3);
    expect(data).toEqual({ destination: '/data', type: 'bind', source: path.join(rroDir(dirs, 'c1'), String(n - 3)), options: ['rbind', 'rprivate', 'ro'] });
    expect(file!.source).toBe(path.join(rroDir(dirs, 'c1'), String(n - 2)));
    expect(plain).toEqual(spec.mounts[n - 1]);
    for (const f of [path.join(data!.source!, 'new'), path.join(data!.source!, 'sub', 'new'), file!.source!]) {
      expect(() => writeFileSync(f, 'x')).toThrow(/EROFS/);
    }
    expect(spec.mounts[n - 3]!.source).toBe(path.join(dir, 'src')); // the input is not changed
    writeFileSync(path.join(dir, 'src', 'sub', 'host'), 'the host tree stays writable');

    await releaseRecursiveReadOnly(dirs, 'c1');
    expect(mountsUnder(dirs.state)).toEqual([]);
    expect(existsSync(rroDir(dirs, 'c1'))).toBe(false);
    await releaseRecursiveReadOnly(dirs, 'c1'); // again: nothing there is fine
  });

  it('a spec without rro comes back as it is and makes nothing', async () => {
    const spec = specWith([{ destination: '/plain', type: 'bind', source: path.join(dir, 'src'), options: ['rbind', 'ro'] }]);
    expect(await stageRecursiveReadOnly(dirs, 'c1', spec, silentLogger)).toBe(spec);
    expect(existsSync(dirs.state)).toBe(false);
  });

  it('a failure releases what was staged before it', async () => {
    const spec = specWith([
      { destination: '/data', type: 'bind', source: path.join(dir, 'src'), options: ['rbind', 'rro'] },
      { destination: '/gone', type: 'bind', source: path.join(dir, 'missing'), options: ['rbind', 'rro'] },
    ]);
    await expect(stageRecursiveReadOnly(dirs, 'c1', spec, silentLogger)).rejects.toThrow(/ENOENT/);
    expect(mountsUnder(dirs.state)).toEqual([]);
    expect(existsSync(rroDir(dirs, 'c1'))).toBe(false);
  });

  it('after a restart, only the containers still waiting for their start keep theirs', async () => {
    const rro = specWith([{ destination: '/data', type: 'bind', source: path.join(dir, 'src'), options: ['rbind', 'rro'] }]);
    for (const id of ['created', 'started', 'gone']) await stageRecursiveReadOnly(dirs, id, rro, silentLogger);
    await releaseStaleRecursiveReadOnly(dirs, (id) => id === 'created', silentLogger);
    expect(readdirSync(path.join(dirs.state, 'rro'))).toEqual(['created']);
    expect(mountsUnder(dirs.state).map((m) => path.relative(dirs.state, m.mountPoint))).toEqual([
      path.join('rro', 'created', String(rro.mounts.length - 1)), path.join('rro', 'created', String(rro.mounts.length - 1), 'sub'),
    ]);
    await releaseRecursiveReadOnly(dirs, 'created');
  });
});
