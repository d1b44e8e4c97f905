import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { globToRegExp } from './annotations.js';
import { capabilitiesFromMask, maskFromCapabilities } from './capabilities.js';
import { parseMountInfo } from '../../sys/index.js';
import { devMajor, devMinor, findMount } from './host-info.js';
import { updateResources, toOciResources } from './resources.js';
import { sandboxSpec, type SandboxSpecInput } from './sandbox-spec.js';
import type { SpecLog } from './security.js';
import { fakeHost } from '../../test/helpers/fake-host.js';
import type { CriPodSandboxConfig } from './types.js';

const pod: CriPodSandboxConfig = {
  metadata: { name: 'p', uid: 'u-1', namespace: 'ns' }, hostname: 'pod-host', logDirectory: '/var/log/pods/x',
  annotations: { 'team.io/a': '1', other: '2' },
};
const input = (config: CriPodSandboxConfig, over: Partial<SandboxSpecInput> = {}): SandboxSpecInput => ({
  id: 's1', config, imageConfig: { Entrypoint: ['/pause'], Env: ['A=1'] }, netnsPath: '/var/run/netns/cni-1',
  sandboxFiles: { devShmPath: '/run/berth/s1/shm', resolvConfPath: '/run/berth/s1/resolv.conf' }, host: fakeHost({ oomScoreAdj: 0 }), ...over,
});
const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return isKind(e, 'invalid-argument') ? 'invalid-argument' : isKind(e, 'failed-precondition') ? 'failed-precondition' : String(e);
  }
  return 'no error';
};

describe('sandboxSpec', () => {
  it('builds the pause spec as containerd does', () => {
    const s = sandboxSpec(input({ ...pod, linux: { cgroupParent: '/kubepods/pod1', resources: { cpuPeriod: 100000, cpuQuota: 20000, cpuShares: 256, memoryLimitInBytes: 1000 } } }, { runtime: { podAnnotations: ['team.io/*'] } }));
    expect(s.process.args).toEqual(['/pause']);
    expect(s.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.root).toEqual({ path: 'rootfs', readonly: true });
    expect(s.hostname).toBe('pod-host');
    expect(s.linux.cgroupsPath).toBe('/kubepods/pod1/s1');
    expect(s.linux.resources?.cpu).toEqual({ shares: 2 });
    expect(s.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/cni-1' }]);
    expect(s.mounts.filter((m) => m.type === 'bind')).toEqual([
      { destination: '/dev/shm', type: 'bind', source: '/run/berth/s1/shm', options: ['rbind', 'ro'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/run/berth/s1/resolv.conf', options: ['rbind', 'ro'] },
    ]);
    expect(s.mounts.filter((m) => m.destination === '/dev/shm')).toHaveLength(1);
    // -998 is restricted to the daemon's own score (0 here: it cannot lower it)
    expect(s.process.oomScoreAdj).toBe(0);
    expect(sandboxSpec(input(pod, { host: fakeHost({ oomScoreAdj: -999 }) })).process.oomScoreAdj).toBe(-998);
    expect(s.annotations).toEqual({
      'team.io/a': '1',
      'io.kubernetes.cri.sandbox-cpu-period': '100000', 'io.kubernetes.cri.sandbox-cpu-quota': '20000',
      'io.kubernetes.cri.sandbox-cpu-shares': '256', 'io.kubernetes.cri.sandbox-memory': '1000',
      'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': 's1',
      'io.kubernetes.cri.sandbox-namespace': 'ns', 'io.kubernetes.cri.sandbox-uid': 'u-1',
      'io.kubernetes.cri.sandbox-name': 'p', 'io.kubernetes.cri.sandbox-log-directory': '/var/log/pods/x',
    });
  });
  it('host namespaces, default args, user, seccomp', () => {
    const s = sandboxSpec(input({
      ...pod, linux: { securityContext: { namespaceOptions: { network: 2, pid: 2, ipc: 2 }, runAsUser: { value: 65535 }, runAsGroup: { value: 65535 }, supplementalGroups: [1], seccomp: { profileType: 0 } } },
    }, { imageConfig: {}, defaultArgs: ['/bin/sleep', 'inf'] }));
    expect(s.linux.namespaces).toEqual([{ type: 'mount' }]);
    expect(s.hostname).toBeUndefined();
    expect(s.mounts.find((m) => m.destination === '/dev/shm')?.source).toBe('/dev/shm');
    expect(s.process.args).toEqual(['/bin/sleep', 'inf']);
    expect(s.process.user).toEqual({ uid: 65535, gid: 65535, additionalGids: [65535, 1] });
    expect(s.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
  });
  it.each([
    ['net sysctl on host network', { namespaceOptions: { network: 2 } }, { 'net.ipv4.ip_forward': '1' }, 'invalid-argument'],
    ['ipc sysctl on host ipc', { namespaceOptions: { ipc: 2 } }, { 'kernel.shm_rmid_forced': '1' }, 'invalid-argument'],
    ['non-namespaced sysctl', {}, { 'vm.swappiness': '1' }, 'invalid-argument'],
    ['network CONTAINER', { namespaceOptions: { network: 1 } }, {}, 'invalid-argument'],
  ] as const)('%s', (_, sc, sysctls, kind) => {
    expect(kindOf(() => sandboxSpec(input({ ...pod, linux: { securityContext: sc, sysctls } })))).toBe(kind);
  });
  it.each([
    ['CONTAINER (kubelet, every pod without hostPID or shareProcessNamespace)', { pid: 1 }],
    ['CONTAINER by name', { pid: 'CONTAINER' }],
    ['TARGET', { pid: 3, targetId: 'c9' }],
    ['TARGET without target_id', { pid: 3 }],
  ] as const)('pid %s: the pause gets its own pid namespace, as containerd gives it', (_, namespaceOptions) => {
    const s = sandboxSpec(input({ ...pod, linux: { securityContext: { namespaceOptions } } }));
    expect(s.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/cni-1' }]);
  });
  it('pod selinux_options: ignored without SELinux (debug record), refused with it', () => {
    const records: unknown[] = [];
    const log = { debug: (obj: unknown, msg: string) => records.push([obj, msg]) } as unknown as SpecLog;
    const config = { ...pod, linux: { securityContext: { selinuxOptions: { type: 'container_t', level: 's0:c1,c2' } } } };
    const s = sandboxSpec(input(config, { log }));
    expect([s.process.selinuxLabel, s.linux.mountLabel]).toEqual([undefined, undefined]);
    expect(records).toEqual([[
      { field: 'pod security_context.selinux_options', selinuxOptions: { type: 'container_t', level: 's0:c1,c2' } },
      'SELinux is not enabled on this host: selinux_options ignored',
    ]]);
    expect(kindOf(() => sandboxSpec(input(config, { host: fakeHost({ selinuxEnabled: true }) })))).toBe('failed-precondition');
  });
  it('passes namespaced sysctls through', () => {
    const s = sandboxSpec(input({ ...pod, linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shm_rmid_forced': '1', 'net/ipv4/ping_group_range': '0 1' } } }));
    expect(s.linux.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shm_rmid_forced': '1', 'net.ipv4.ping_group_range': '0 1' });
  });
});

describe('resources', () => {
  const host = { hugetlbAvailable: false, swapAvailable: false };
  it('converts and updates, keeping fields the update leaves at zero', () => {
    expect(toOciResources({ cpuShares: 2, memoryLimitInBytes: '1024', unified: { 'memory.high': '1' } }, host))
      .toEqual({ cpu: { shares: 2 }, memory: { limit: 1024 }, unified: { 'memory.high': '1' } });
    const spec = { linux: { resources: { cpu: { shares: 2, quota: 10 }, memory: { limit: 5 } } } } as never;
    const next = updateResources(spec, { cpuShares: 4, memoryLimitInBytes: 9, hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }, host);
    expect(next.linux.resources).toEqual({ cpu: { shares: 4, quota: 10 }, memory: { limit: 9 } });
    expect((spec as { linux: { resources: { cpu: { shares: number } } } }).linux.resources.cpu.shares).toBe(2);
    expect(kindOf(() => updateResources(spec, { memoryLimitInBytes: -1 }, host))).toBe('invalid-argument');
  });

  it('hugepage limits as disable_hugetlb_controller and tolerate_missing_hugetlb_controller ask', () => {
    const huge = { hugepageLimits: [{ pageSize: '2MB', limit: 4096 }] };
    const present = { hugetlbAvailable: true, swapAvailable: false };
    expect(toOciResources(huge, present).hugepageLimits).toEqual([{ pageSize: '2MB', limit: 4096 }]);
    expect(toOciResources(huge, { ...present, hugetlbLimits: 'off' }).hugepageLimits).toBeUndefined();
    expect(toOciResources(huge, { ...host, hugetlbLimits: 'when-present' }).hugepageLimits).toBeUndefined();
    expect(kindOf(() => toOciResources(huge, { ...host, hugetlbLimits: 'required' }))).toBe('failed-precondition');
    expect(toOciResources({ cpuShares: 2 }, { ...host, hugetlbLimits: 'required' })).toEqual({ cpu: { shares: 2 }, memory: {} });
  });
});

describe('helpers', () => {
  it('capability masks', () => {
    expect(capabilitiesFromMask('0000000000000401')).toEqual(['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);
    expect(maskFromCapabilities(['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'])).toBe('0000000000000401');
  });
  it('globs as Go path.Match', () => {
    expect(globToRegExp('a.io/*')?.test('a.io/x')).toBe(true);
    expect(globToRegExp('a.io/*')?.test('a.io/x/y')).toBe(false);
    expect(globToRegExp('x[0-9]')?.test('x5')).toBe(true);
    expect(globToRegExp('x[')).toBeUndefined();
  });
  it('mountinfo and dev numbers', () => {
    const mi = parseMountInfo('22 1 0:21 / / rw - ext4 /dev/vda rw\n30 22 0:5 / /var\\040lib rw shared:4 master:1 - tmpfs t rw\n');
    expect(findMount(mi, '/var lib/x')).toMatchObject({ mountPoint: '/var lib', optional: 'shared:4 master:1', fsType: 'tmpfs' });
    expect(findMount(mi, '/varx')).toMatchObject({ mountPoint: '/', optional: '' });
    expect([devMajor(0x0103), devMinor(0x0103)]).toEqual([1, 3]);
  });
});
