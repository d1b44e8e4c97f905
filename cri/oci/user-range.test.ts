// uids and gids above 2^31-1 are refused as containerd refuses them (CVE-2024-40635), from the
// CRI security context and from the image's User alike; a huge numeric User is never looked up
// as a user name (docs/security.md).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { buildUser, criUserString } from './user.js';

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-user-'));
  rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  // A hostile image maps a numeric-looking name to root.
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n4294967296:x:0:0::/:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const invalid = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return isKind(err, 'invalid-argument');
  }
  return false;
};

describe('user and group id range', () => {
  it('takes 2^31-1 and refuses 2^31 and above from the CRI fields', () => {
    expect(criUserString('', { value: 2147483647 }, { value: 2147483647 })).toBe('2147483647:2147483647');
    expect(invalid(() => criUserString('', { value: 2147483648 }, null))).toBe(true);
    expect(invalid(() => criUserString('', { value: 4294967295 }, null))).toBe(true);
    expect(invalid(() => criUserString('', { value: 1000 }, { value: 2147483648 }))).toBe(true);
    expect(invalid(() => buildUser(rootfs, '1000', [2147483648]))).toBe(true);
  });

  it('refuses an image User past the range instead of running it as another user', () => {
    expect(buildUser(rootfs, '2147483647:2147483647', [])).toMatchObject({ uid: 2147483647, gid: 2147483647 });
    for (const user of ['2147483648', '4294967295', '4294967296', '1000:2147483648', '99999999999999999999']) {
      expect(invalid(() => buildUser(rootfs, user, [])), user).toBe(true);
    }
  });
});
