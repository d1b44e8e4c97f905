// deploy/config.toml (installed as /etc/berth/config.toml) loads cleanly and is the built-in
// defaults except for the CNI bin dir Debian uses.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig } from '../../cri/index.js';
import { projectRoot } from '../helpers/bundle.js';

describe('deploy/config.toml', () => {
  it('loads as the embedded defaults with cni.bin_dir = /usr/lib/cni', async () => {
    const c = await loadConfig(path.join(projectRoot, 'deploy/config.toml'));
    expect(c.format).toBe('berth');
    expect(c.cni.binDir).toBe('/usr/lib/cni');
    const strip = (x: object) => JSON.parse(JSON.stringify(x, (k: string, v: unknown) => (['format', 'source', 'ignored', 'cni'].includes(k) ? undefined : v))) as unknown;
    expect(strip(c)).toEqual(strip(DEFAULT_CONFIG));
  });
});
