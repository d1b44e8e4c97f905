// idmappedBind on the host's kernel and filesystems (docs/sys.md): the mapping of a real user
// namespace applied to a bind of an ext4 dir and of a tmpfs file, refused on an overlay mount
// (EINVAL, measured: overlayfs cannot be idmapped itself), and an overlay over an idmapped lower dir.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { idmappedBind, isErrno, mountAll, unmountAll } from './index.js';

const HOST_ID = 65536 * 123;
const dirs: string[] = [];
const kills: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const k of kills.splice(0)) await k();
  for (const d of dirs.splice(0)) {
    unmountAll(d);
    rmSync(d, { recursive: true, force: true });
  }
});

/** A user namespace mapping 0..65535 to HOST_ID.., held by a sleeping child; its ns fd. */
async function usernsFd(): Promise<number> {
  const child = spawn('unshare', ['--user', 'sleep', 'infinity'], { stdio: 'ignore' });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  kills.push(async () => {
    child.kill('SIGKILL');
    await closed;
  });
  const own = readlinkSync('/proc/self/ns/user');
  const deadline = Date.now() + 5_000;
  while (readlinkSync(`/proc/${child.pid}/ns/user`) === own) {
    if (Date.now() > deadline) throw new Error('unshare --user made no namespace');
    await new Promise((r) => setTimeout(r, 2));
  }
  writeFileSync(`/proc/${child.pid}/uid_map`, `0 ${HOST_ID} 65536\n`);
  writeFileSync(`/proc/${child.pid}/gid_map`, `0 ${HOST_ID} 65536\n`);
  const fd = openSync(`/proc/${child.pid}/ns/user`, 'r');
  kills.push(async () => closeSync(fd));
  return fd;
}

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-idmap-'));
  dirs.push(d);
  return d;
}

describe('idmappedBind', () => {
  it('shows host root\'s files of an ext4 dir as the mapping\'s root, and a file on a tmpfs too', async () => {
    const fd = await usernsFd();
    const d = tempDir();
    mkdirSync(path.join(d, 'src'));
    writeFileSync(path.join(d, 'src/f'), 'x');
    mkdirSync(path.join(d, 'dst'));
    idmappedBind(path.join(d, 'src'), path.join(d, 'dst'), fd);
    expect([statSync(path.join(d, 'dst/f')).uid, statSync(path.join(d, 'dst/f')).gid]).toEqual([HOST_ID, HOST_ID]);
    expect(statSync(path.join(d, 'src/f')).uid).toBe(0);
    // the same inode and device as the source (what a reuse check can compare)
    expect([statSync(path.join(d, 'dst')).ino, statSync(path.join(d, 'dst')).dev]).toEqual([statSync(path.join(d, 'src')).ino, statSync(path.join(d, 'src')).dev]);

    mkdirSync(path.join(d, 'tmp'));
    mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], path.join(d, 'tmp'));
    writeFileSync(path.join(d, 'tmp/file'), 'y');
    writeFileSync(path.join(d, 'one'), '');
    idmappedBind(path.join(d, 'tmp/file'), path.join(d, 'one'), fd);
    expect(statSync(path.join(d, 'one')).uid).toBe(HOST_ID);
  });

  it('an overlay mount cannot be idmapped (EINVAL); an overlay over an idmapped lower dir shows the mapping', async () => {
    const fd = await usernsFd();
    const d = tempDir();
    for (const sub of ['lower', 'idlower', 'upper', 'work', 'merged', 'out']) mkdirSync(path.join(d, sub));
    writeFileSync(path.join(d, 'lower/f'), 'x');
    mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${d}/lower`, `upperdir=${d}/upper`, `workdir=${d}/work`] }], path.join(d, 'merged'));
    let err: unknown;
    try {
      idmappedBind(path.join(d, 'merged'), path.join(d, 'out'), fd);
    } catch (e) {
      err = e;
    }
    expect(isErrno(err, 'EINVAL')).toBe(true);
    unmountAll(path.join(d, 'merged'));

    idmappedBind(path.join(d, 'lower'), path.join(d, 'idlower'), fd);
    mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${d}/idlower`, `upperdir=${d}/upper`, `workdir=${d}/work`] }], path.join(d, 'merged'));
    expect(statSync(path.join(d, 'merged/f')).uid).toBe(HOST_ID);
  });
});
