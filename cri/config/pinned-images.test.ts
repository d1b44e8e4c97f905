// `pinned_images` (containerd 2.x's name): name -> image reference, in berth's format and in a
// containerd config.toml; a value that is no image reference is refused naming the key.
import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { DEFAULT_CONFIG, configDump, parseConfig } from './index.js';

const refused = (toml: string): string => {
  try {
    parseConfig(toml);
  } catch (err) {
    expect(isKind(err, 'invalid-argument')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('pinned_images', () => {
  it('is empty by default', () => {
    expect(DEFAULT_CONFIG.pinnedImages).toEqual({});
    expect(parseConfig('').pinnedImages).toEqual({});
  });

  it('reads name -> reference in both formats and dumps back', () => {
    const berth = parseConfig('[pinned_images]\nsandbox = "registry.k8s.io/pause:3.10"\nbase = "busybox"\n');
    expect(berth.pinnedImages).toEqual({ sandbox: 'registry.k8s.io/pause:3.10', base: 'busybox' });
    const ctrd = parseConfig('version = 2\n[plugins."io.containerd.grpc.v1.cri".pinned_images]\nbase = "docker.io/library/busybox@sha256:' + 'a'.repeat(64) + '"\n');
    expect(ctrd.pinnedImages).toEqual({ base: `docker.io/library/busybox@sha256:${'a'.repeat(64)}` });
    expect(parseConfig(configDump(berth)).pinnedImages).toEqual(berth.pinnedImages);
  });

  it('refuses a value that is not an image reference, or not a string', () => {
    expect(refused('[pinned_images]\nbase = "Bad Ref"\n')).toMatch(/pinned_images\.base: invalid image reference "Bad Ref"/);
    expect(refused('[pinned_images]\nbase = ""\n')).toMatch(/pinned_images\.base: invalid image reference "": empty/);
    expect(refused('version = 2\n[plugins."io.containerd.grpc.v1.cri".pinned_images]\nbase = 3\n'))
      .toMatch(/plugins\."io\.containerd\.grpc\.v1\.cri"\.pinned_images\.base: expected string, got integer/);
    expect(refused('pinned_images = ["busybox"]\n')).toMatch(/pinned_images: expected table, got array/);
  });
});
