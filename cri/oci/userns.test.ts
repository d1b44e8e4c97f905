// userns_options as the spec takes them (docs/oci-spec.md): POD/NODE read, every refused shape
// InvalidArgument with its reason, the spec's user namespace and mappings, and the locked flags
// kept on bind mounts.
import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { applyUserns, checkPodUserns, keepLockedFlags, readUserns } from './userns.js';
import type { OciSpec } from './types.js';

const M = (hostId: number, containerId = 0, length = 65536) => ({ hostId, containerId, length });
const POD = 0;
const CONTAINER = 1;
const NODE = 2;
const TARGET = 3;

describe('readUserns', () => {
  it('none and NODE are the host\'s; POD gives its one mapping each', () => {
    expect(readUserns(undefined, 'ns')).toBeUndefined();
    expect(readUserns({ usernsOptions: { mode: NODE } }, 'ns')).toBeUndefined();
    expect(readUserns({ usernsOptions: { mode: POD, uids: [M(65536)], gids: [M(131072)] } }, 'ns')).toEqual({ uid: M(65536), gid: M(131072) });
  });

  it.each([
    ['CONTAINER', { mode: CONTAINER, uids: [M(65536)], gids: [M(65536)] }, /mode CONTAINER is not supported/],
    ['TARGET', { mode: TARGET, uids: [M(65536)], gids: [M(65536)] }, /mode TARGET is not supported/],
    ['two uid mappings', { mode: POD, uids: [M(65536), M(200000, 65536)], gids: [M(65536)] }, /uids: exactly one mapping is supported, got 2/],
    ['no gid mapping', { mode: POD, uids: [M(65536)] }, /gids: exactly one mapping is supported, got 0/],
    ['id 0 unmapped', { mode: POD, uids: [M(65536, 1)], gids: [M(65536)] }, /must map container id 0/],
    ['length 0', { mode: POD, uids: [M(65536, 0, 0)], gids: [M(65536)] }, /length must be positive/],
    ['past 32 bits', { mode: POD, uids: [M(2 ** 32 - 10)], gids: [M(65536)] }, /overflow 32 bits/],
    ['NODE with mappings', { mode: NODE, uids: [M(65536)] }, /mode NODE takes no mappings/],
  ])('%s: InvalidArgument', (_what, usernsOptions, message) => {
    let err: unknown;
    try {
      readUserns({ usernsOptions }, 'ns');
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('a pod in a user namespace may not use a host namespace', () => {
    const userns = { uid: M(65536), gid: M(65536) };
    expect(() => checkPodUserns(userns, { network: POD, pid: CONTAINER, ipc: POD, targetId: '' }, 'ns')).not.toThrow();
    for (const k of ['network', 'pid', 'ipc'] as const) {
      expect(() => checkPodUserns(userns, { network: POD, pid: CONTAINER, ipc: POD, targetId: '', [k]: NODE }, 'ns')).toThrow(new RegExp(`host ${k} namespace`));
    }
    expect(() => checkPodUserns(undefined, { network: NODE, pid: NODE, ipc: NODE, targetId: '' }, 'ns')).not.toThrow();
  });
});

describe('the spec', () => {
  const spec = (): OciSpec => ({
    ociVersion: '1.0.2', process: { args: ['x'], cwd: '/', user: { uid: 0, gid: 0 } } as OciSpec['process'], root: { path: 'rootfs' },
    mounts: [
      { destination: '/dev/shm', type: 'bind', source: '/run/shm-pod', options: ['rbind', 'ro'] },
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/x' }] },
  });

  it('joins the pinned namespace with the mappings', () => {
    const s = spec();
    applyUserns(s, { uid: M(65536), gid: M(131072) }, '/run/berth/cri/userns/p/ns');
    expect(s.linux.namespaces).toContainEqual({ type: 'user', path: '/run/berth/cri/userns/p/ns' });
    expect([s.linux.uidMappings, s.linux.gidMappings]).toEqual([[{ containerID: 0, hostID: 65536, size: 65536 }], [{ containerID: 0, hostID: 131072, size: 65536 }]]);
  });

  it('bind mounts keep the locked flags of their source\'s host mount; others are left alone', () => {
    const s = spec();
    const mounts: Record<string, string> = { '/run/shm-pod': 'rw,nosuid,nodev,noexec,relatime', '/srv/data': 'ro,nosuid,noatime' };
    keepLockedFlags(s, { lookupMount: (p) => ({ mountPoint: p, optional: '', options: mounts[p] ?? 'rw' }) });
    expect(s.mounts.map((m) => m.options)).toEqual([
      ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'], ['rbind', 'rprivate', 'nosuid', 'noatime', 'ro'], [],
    ]);
  });
});
