import { describe, it, expect, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isKind } from '../common/index.js';
import { bindRecursiveReadOnly, isMountPoint, mountAll, parseMountInfo, readMountInfo, recursiveReadOnlySupported, SyscallError, unmountAll } from './index.js';

const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) {
    unmountAll(d);
    rmSync(d, { recursive: true, force: true });
  }
});

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-mount-'));
  dirs.push(d);
  return d;
}

function mountsUnder(dir: string): string[] {
  return readMountInfo()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

describe('mountinfo', () => {
  it('parses lines: escaped paths, optional fields, super options; skips blank and malformed lines', () => {
    const text = [
      '22 1 0:21 / / rw,relatime - ext4 /dev/vda rw,errors=remount-ro',
      '',
      '30 22 0:5 / /var\\040lib rw,nosuid shared:4 master:1 - tmpfs my\\011fs rw,size=64k',
      '41 22 0:40 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
      'not a mountinfo line',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { id: 22, parentId: 1, mountPoint: '/', options: 'rw,relatime', optional: '', fsType: 'ext4', source: '/dev/vda', superOptions: 'rw,errors=remount-ro' },
      { id: 30, parentId: 22, mountPoint: '/var lib', options: 'rw,nosuid', optional: 'shared:4 master:1', fsType: 'tmpfs', source: 'my\tfs', superOptions: 'rw,size=64k' },
      { id: 41, parentId: 22, mountPoint: '/sys/fs/cgroup/memory', options: 'rw', optional: '', fsType: 'cgroup', source: 'cgroup', superOptions: 'rw,memory' },
    ]);
  });
});

describe('mount', () => {
  it('mounts an overlay of two lower dirs and unmounts it without a trace in mountinfo', () => {
    const d = tempDir();
    for (const sub of ['l1', 'l2', 'upper', 'work', 'merged']) mkdirSync(path.join(d, sub));
    writeFileSync(path.join(d, 'l1', 'a'), 'from-l1');
    writeFileSync(path.join(d, 'l2', 'a'), 'from-l2');
    writeFileSync(path.join(d, 'l2', 'b'), 'only-l2');
    const merged = path.join(d, 'merged');
    mountAll(
      [{ type: 'overlay', source: 'overlay', options: [`workdir=${d}/work`, `upperdir=${d}/upper`, `lowerdir=${d}/l1:${d}/l2`] }],
      merged,
    );
    expect(isMountPoint(merged)).toBe(true);
    expect(readMountInfo().find((m) => m.mountPoint === merged)?.fsType).toBe('overlay');
    expect(readFileSync(path.join(merged, 'a'), 'utf8')).toBe('from-l1'); // first lowerdir wins
    expect(readFileSync(path.join(merged, 'b'), 'utf8')).toBe('only-l2');
    writeFileSync(path.join(merged, 'c'), 'new');
    expect(readFileSync(path.join(d, 'upper', 'c'), 'utf8')).toBe('new');
    unmountAll(merged);
    expect(isMountPoint(merged)).toBe(false);
    expect(mountsUnder(merged)).toEqual([]);
  });

  it('makes a read-only bind mount (remount) and removes stacked and nested mounts', () => {
    const d = tempDir();
    mkdirSync(path.join(d, 'src'));
    mkdirSync(path.join(d, 'dst'));
    writeFileSync(path.join(d, 'src', 'f'), 'x');
    const dst = path.join(d, 'dst');
    mountAll([{ type: 'bind', source: path.join(d, 'src'), options: ['rbind', 'ro'] }], dst);
    expect(readFileSync(path.join(dst, 'f'), 'utf8')).toBe('x');
    expect(() => writeFileSync(path.join(dst, 'g'), 'y')).toThrow(/EROFS/);
    mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], dst); // stacked
    mkdirSync(path.join(dst, 'inner'));
    mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] }], path.join(dst, 'inner')); // nested
    expect(mountsUnder(dst)).toHaveLength(3);
    unmountAll(dst);
    expect(mountsUnder(dst)).toEqual([]);
  });

  it('tolerates unmounting something not mounted or missing', () => {
    const d = tempDir();
    expect(() => unmountAll(d)).not.toThrow();
    expect(() => unmountAll(path.join(d, 'nope'))).not.toThrow();
    expect(isMountPoint(path.join(d, 'nope'))).toBe(false);
  });

  it('reports a bad filesystem type as a SyscallError naming ENODEV, and overlong options as invalid-argument', () => {
    const d = tempDir();
    let err: unknown;
    try {
      mountAll([{ type: 'nosuchfs', source: 'none', options: [] }], d);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errnoName).toBe('ENODEV');
    let err2: unknown;
    try {
      mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${'x'.repeat(5000)}`] }], d);
    } catch (e) {
      err2 = e;
    }
    expect(isKind(err2, 'invalid-argument')).toBe(true);
    expect(isMountPoint(d)).toBe(false);
  });
});

describe('recursive read-only bind (mount_setattr AT_RECURSIVE)', () => {
  it('makes the bound tree read-only and private at every level; the source stays writable; a bind of it stays read-only', () => {
    const d = tempDir();
    const src = path.join(d, 'src');
    mkdirSync(src);
    mountAll([{ type: 'tmpfs', source: 'berth-t1', options: ['size=64k'] }], src);
    mkdirSync(path.join(src, 'sub'));
    mountAll([{ type: 'tmpfs', source: 'berth-t2', options: ['size=64k'] }], path.join(src, 'sub'));
    expect(recursiveReadOnlySupported()).toBe(true);
    const staged = path.join(d, 'staged');
    mkdirSync(staged);
    bindRecursiveReadOnly(src, staged);
    const again = path.join(d, 'again');
    mkdirSync(again);
    mountAll([{ type: 'bind', source: staged, options: ['rbind'] }], again);
    for (const top of [staged, again]) {
      for (const f of [path.join(top, 'f'), path.join(top, 'sub', 'f')]) {
        expect(() => writeFileSync(f, 'x')).toThrow(/EROFS/);
      }
    }
    const info = readMountInfo().filter((m) => m.mountPoint.startsWith(staged));
    expect(info.map((m) => [m.mountPoint, m.options.split(',')[0], m.optional])).toEqual([[staged, 'ro', ''], [path.join(staged, 'sub'), 'ro', '']]);
    writeFileSync(path.join(src, 'sub', 'f'), 'still writable');
  });

  it('a source that does not exist fails and leaves nothing mounted', () => {
    const d = tempDir();
    const staged = path.join(d, 'staged');
    mkdirSync(staged);
    expect(() => bindRecursiveReadOnly(path.join(d, 'missing'), staged)).toThrow(SyscallError);
    expect(mountsUnder(d)).toEqual([]);
  });
});
