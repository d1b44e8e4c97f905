// A CNI plugin `type` names a file in the bin dirs, never a path out of them (docs/security.md).
import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { execPlugin, findPlugin } from './cni-exec.js';

describe('CNI plugin lookup', () => {
  it('refuses a type that climbs out of the bin dirs or names a path, before anything runs', async () => {
    // /usr/lib/cni/../../bin/sh is /usr/bin/sh: executable, so only the name check stops it.
    for (const type of ['../../bin/sh', '/bin/sh', 'sub/plugin', '..', '.', '', 'bridge\0x']) {
      await expect(findPlugin(['/usr/lib/cni'], type), JSON.stringify(type)).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
    }
    await expect(execPlugin('../../bin/sh', {}, {
      command: 'VERSION', containerId: 'x', netns: '', ifName: 'eth0', args: [], binDirs: ['/usr/lib/cni'], timeoutMs: 5_000,
    })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
  });

  it('finds a plain plugin name in the first dir that has it', async () => {
    await expect(findPlugin(['/nonexistent', '/usr/lib/cni'], 'loopback')).resolves.toBe('/usr/lib/cni/loopback');
    await expect(findPlugin(['/usr/lib/cni'], 'no-such-plugin')).rejects.toSatisfy((e) => isKind(e, 'not-found'));
  });
});
