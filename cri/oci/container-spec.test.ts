import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { CAPABILITY_NAMES } from './capabilities.js';
import { containerSpec, type ContainerSpecInput } from './container-spec.js';
import { DEFAULT_MASKED_PATHS } from './default-spec.js';
import { MAX_ROOTFS_FILE_SIZE } from './rootfs-reader.js';
import type { SpecLog } from './security.js';
import { fakeHost } from '../../test/helpers/fake-host.js';
import type { CriContainerConfig, CriPodSandboxConfig, ImageConfig } from './types.js';

let dir: string;
let rootfs: string;
let files: { hostsPath: string; resolvConfPath: string; hostnamePath: string; devShmPath: string };

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-oci-unit-'));
  rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:2000::/home/app:/bin/sh\n');
  // a group named like the user is its own group, not a supplemental one (containerd's filter)
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\ngrp:x:2000:\nextra:x:3000:app,other\napp:x:4000:app\n');
  for (const f of ['hosts', 'resolv.conf', 'hostname']) writeFileSync(path.join(dir, f), '');
  mkdirSync(path.join(dir, 'shm'));
  mkdirSync(path.join(dir, 'vol'));
  files = {
    hostsPath: path.join(dir, 'hosts'), resolvConfPath: path.join(dir, 'resolv.conf'),
    hostnamePath: path.join(dir, 'hostname'), devShmPath: path.join(dir, 'shm'),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pod: CriPodSandboxConfig = {
  metadata: { name: 'p', uid: 'u-1', namespace: 'ns' }, hostname: 'pod-host',
  annotations: { 'team.io/a': '1', other: '2' },
};
const image: ImageConfig = { Entrypoint: ['/ep'], Cmd: ['c1'], Env: ['PATH=/img', 'A=img'], WorkingDir: '/w', User: '' };

function input(config: CriContainerConfig, over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: 'c1', sandboxId: 's1', sandboxPid: 42, config: { metadata: { name: 'ctr' }, ...config }, sandboxConfig: pod,
    imageConfig: image, imageName: 'busybox:latest', rootfs, sandboxFiles: files, host: fakeHost(), ...over,
  };
}

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isKind(e, 'invalid-argument') ? 'invalid-argument' : isKind(e, 'failed-precondition') ? 'failed-precondition' : `other: ${String(e)}`;
  }
  return 'no error';
}

describe('process', () => {
  it.each([
    ['image entrypoint + cmd', {}, ['/ep', 'c1']],
    ['args replace cmd', { args: ['a'] }, ['/ep', 'a']],
    ['command drops image cmd', { command: ['/x'] }, ['/x']],
    ['command + args', { command: ['/x'], args: ['y'] }, ['/x', 'y']],
  ] as const)('%s', (_, cfg, want) => {
    expect(containerSpec(input({ ...cfg } as CriContainerConfig)).process.args).toEqual(want);
  });
  it('entrypoint [""] is ignored, and no command at all is InvalidArgument', () => {
    const img = { Entrypoint: [''], Cmd: ['/c'] };
    expect(containerSpec(input({}, { imageConfig: img })).process.args).toEqual(['/c']);
    expect(kindOf(() => containerSpec(input({}, { imageConfig: {} })))).toBe('invalid-argument');
  });
  it('env: PATH default, HOSTNAME, image env, CRI env overriding by key', () => {
    const s = containerSpec(input({ envs: [{ key: 'A', value: 'cri' }, { key: 'B', value: '2' }] }));
    expect(s.process.env).toEqual(['PATH=/img', 'HOSTNAME=pod-host', 'A=cri', 'B=2']);
  });
  it('cwd: CRI, else image, else /', () => {
    expect(containerSpec(input({ workingDir: '/cri' })).process.cwd).toBe('/cri');
    expect(containerSpec(input({})).process.cwd).toBe('/w');
    expect(containerSpec(input({}, { imageConfig: { Cmd: ['x'] } })).process.cwd).toBe('/');
  });
  it('has no rlimits, no ambient caps, new privileges allowed by default', () => {
    const s = containerSpec(input({}));
    expect(s.process.rlimits).toBeUndefined();
    expect(s.process.capabilities?.ambient).toBeUndefined();
    expect(s.process.noNewPrivileges).toBe(false);
    expect(containerSpec(input({ linux: { securityContext: { noNewPrivs: true } } })).process.noNewPrivileges).toBe(true);
  });
});

describe('user', () => {
  const sc = (s: object) => ({ linux: { securityContext: s } });
  it.each([
    ['default root', {}, '', { uid: 0, gid: 0, additionalGids: [0] }],
    ['run_as_user by id', sc({ runAsUser: { value: 1000 } }), '', { uid: 1000, gid: 2000, additionalGids: [2000, 3000] }],
    ['run_as_user + run_as_group', sc({ runAsUser: { value: 1000 }, runAsGroup: { value: 7 } }), '', { uid: 1000, gid: 7, additionalGids: [7, 3000] }],
    ['run_as_username', sc({ runAsUsername: 'app' }), '', { uid: 1000, gid: 2000, additionalGids: [2000, 3000] }],
    ['unknown uid gets gid 0', sc({ runAsUser: { value: 555 } }), '', { uid: 555, gid: 0, additionalGids: [0] }],
    ['image uid', {}, '1000', { uid: 1000, gid: 2000, additionalGids: [2000, 3000] }],
    ['image uid:gid', {}, '1000:9', { uid: 1000, gid: 9, additionalGids: [9, 3000] }],
    ['image name', {}, 'app', { uid: 1000, gid: 2000, additionalGids: [2000, 3000] }],
    ['image name:group', {}, 'app:extra', { uid: 1000, gid: 3000, additionalGids: [3000] }],
    ['CRI wins over image', sc({ runAsUser: { value: 0 } }), 'app', { uid: 0, gid: 0, additionalGids: [0] }],
    ['supplemental groups appended', sc({ runAsUser: { value: 1000 }, supplementalGroups: [5, 3000] }), '', { uid: 1000, gid: 2000, additionalGids: [2000, 3000, 5] }],
    ['policy Merge: /etc/group memberships + supplemental', sc({ runAsUser: { value: 1000 }, supplementalGroups: [5], supplementalGroupsPolicy: 0 }), '',
      { uid: 1000, gid: 2000, additionalGids: [2000, 3000, 5] }],
    ['policy Strict: primary gid + supplemental only', sc({ runAsUser: { value: 1000 }, supplementalGroups: [5], supplementalGroupsPolicy: 'Strict' }), '',
      { uid: 1000, gid: 2000, additionalGids: [2000, 5] }],
    ['policy Strict with the image user', sc({ supplementalGroupsPolicy: 1 }), 'app', { uid: 1000, gid: 2000, additionalGids: [2000] }],
  ] as const)('%s', (_, cfg, imageUser, want) => {
    expect(containerSpec(input(cfg as CriContainerConfig, { imageConfig: { ...image, User: imageUser } })).process.user).toEqual(want);
  });
  it.each([
    ['unknown user name', sc({ runAsUsername: 'nobody-here' }), ''],
    ['unknown group name', {}, 'app:nogroup'],
    ['gid without user', sc({ runAsGroup: { value: 1 } }), ''],
    ['negative uid', sc({ runAsUser: { value: -1 } }), ''],
    ['three parts', {}, '1:2:3'],
    ['unknown supplemental_groups_policy', sc({ runAsUser: { value: 1000 }, supplementalGroupsPolicy: 7 }), ''],
  ] as const)('%s is InvalidArgument', (_, cfg, imageUser) => {
    expect(kindOf(() => containerSpec(input(cfg as CriContainerConfig, { imageConfig: { ...image, User: imageUser } })))).toBe('invalid-argument');
  });
  it('never follows a symlink out of the rootfs', () => {
    const evil = path.join(dir, 'evil');
    mkdirSync(path.join(evil, 'etc'), { recursive: true });
    // /etc/passwd -> /etc/passwd of the host; must resolve to <rootfs>/etc/real-passwd instead
    writeFileSync(path.join(evil, 'etc/real-passwd'), 'eve:x:77:77::/:/bin/sh\n');
    symlinkSync('../../../../../../etc/real-passwd', path.join(evil, 'etc/passwd'));
    const s = containerSpec(input({ linux: { securityContext: { runAsUsername: 'eve' } } }, { rootfs: evil }));
    expect(s.process.user.uid).toBe(77);
    expect(kindOf(() => containerSpec(input({ linux: { securityContext: { runAsUsername: 'root' } } }, { rootfs: evil })))).toBe('invalid-argument');
  });
  it('refuses an image /etc/passwd that is a FIFO or oversized instead of blocking or reading forever', () => {
    const hostile = path.join(dir, 'hostile');
    mkdirSync(path.join(hostile, 'etc'), { recursive: true });
    execFileSync('mkfifo', [path.join(hostile, 'etc/passwd')]); // open(2) without O_NONBLOCK blocks the daemon here
    writeFileSync(path.join(hostile, 'etc/group'), `big:x:1:\n${'#'.repeat(MAX_ROOTFS_FILE_SIZE)}\n`);
    const asUser = (u: CriContainerConfig, img = '') => () => containerSpec(input(u, { rootfs: hostile, imageConfig: { ...image, User: img } }));
    expect(kindOf(asUser({}, '1000'))).toBe('invalid-argument');
    expect(() => asUser({}, '1000')()).toThrow(/\/etc\/passwd in the image rootfs is not a regular file/);
    rmSync(path.join(hostile, 'etc/passwd'));
    expect(() => asUser({}, '0:big')()).toThrow(/\/etc\/group in the image rootfs is \d+ bytes, more than/);
  });
});

describe('mounts', () => {
  it('adds pod files and binds CRI mounts, shallow first', () => {
    const s = containerSpec(input({
      mounts: [
        { containerPath: '/data/deep', hostPath: path.join(dir, 'vol'), readonly: true },
        { containerPath: '/data', hostPath: path.join(dir, 'vol') },
      ],
    }));
    const binds = s.mounts.filter((m) => m.type === 'bind');
    expect(binds.map((m) => [m.destination, m.options])).toEqual([
      ['/data', ['rbind', 'rprivate', 'rw']],
      ['/data/deep', ['rbind', 'rprivate', 'ro']],
      ['/etc/hostname', ['rbind', 'rprivate', 'rw']],
      ['/etc/hosts', ['rbind', 'rprivate', 'rw']],
      ['/etc/resolv.conf', ['rbind', 'rprivate', 'rw']],
      ['/dev/shm', ['rbind', 'rprivate', 'rw']],
    ]);
    expect(s.mounts.filter((m) => m.destination === '/dev/shm')).toHaveLength(1);
    expect(s.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('ro');
  });
  it('readonly rootfs makes the pod files read-only', () => {
    const s = containerSpec(input({ linux: { securityContext: { readonlyRootfs: true } } }));
    expect(s.root.readonly).toBe(true);
    expect(s.mounts.find((m) => m.destination === '/etc/hosts')?.options).toContain('ro');
  });
  it.each([
    ['missing host path', { containerPath: '/x', hostPath: '/no/such/berth/path' }, 'invalid-argument'],
    ['relative container path', { containerPath: 'x', hostPath: '/tmp' }, 'invalid-argument'],
    ['bidirectional on a private mount', { containerPath: '/x', hostPath: '/tmp', propagation: 2 }, 'failed-precondition'],
    ['host-to-container on a private mount', { containerPath: '/x', hostPath: '/tmp', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }, 'failed-precondition'],
    ['unknown propagation', { containerPath: '/x', hostPath: '/tmp', propagation: 9 }, 'invalid-argument'],
  ] as const)('%s', (_, m, kind) => {
    expect(kindOf(() => containerSpec(input({ mounts: [m] })))).toBe(kind);
  });
  it('propagation on shared and slave host mounts', () => {
    const host = fakeHost({ mounts: [{ mountPoint: '/', optional: 'shared:1' }, { mountPoint: dir, optional: 'master:3' }] });
    const s1 = containerSpec(input({ mounts: [{ containerPath: '/x', hostPath: '/usr', propagation: 2 }] }, { host }));
    expect(s1.mounts.find((m) => m.destination === '/x')?.options).toEqual(['rbind', 'rshared', 'rw']);
    expect(s1.linux.rootfsPropagation).toBe('rshared');
    const s2 = containerSpec(input({ mounts: [{ containerPath: '/x', hostPath: path.join(dir, 'vol'), propagation: 1 }] }, { host }));
    expect(s2.mounts.find((m) => m.destination === '/x')?.options).toEqual(['rbind', 'rslave', 'rw']);
    expect(s2.linux.rootfsPropagation).toBe('rslave');
    expect(kindOf(() => containerSpec(input({ mounts: [{ containerPath: '/x', hostPath: path.join(dir, 'vol'), propagation: 2 }] }, { host })))).toBe('failed-precondition');
  });
  describe('recursive read-only (rro)', () => {
    const rroHandler = { recursiveReadOnlyMounts: true };
    it('a readonly private mount becomes rbind,rprivate,rro where the handler does rro', () => {
      const s = containerSpec(input({ mounts: [{ containerPath: '/x', hostPath: path.join(dir, 'vol'), readonly: true, recursiveReadOnly: true }] }, { runtime: rroHandler }));
      expect(s.mounts.find((m) => m.destination === '/x')?.options).toEqual(['rbind', 'rprivate', 'rro']);
    });
    it.each([
      ['readonly false', { readonly: false }, rroHandler],
      ['host-to-container propagation', { readonly: true, propagation: 1 }, rroHandler],
      ['bidirectional propagation', { readonly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' }, rroHandler],
      ['a handler without rro', { readonly: true }, {}],
    ] as const)('with %s is InvalidArgument', (_, m, runtime) => {
      const mount = { containerPath: '/x', hostPath: path.join(dir, 'vol'), recursiveReadOnly: true, ...m };
      expect(kindOf(() => containerSpec(input({ mounts: [mount] }, { runtime })))).toBe('invalid-argument');
    });
  });
  it('host IPC uses the host /dev/shm', () => {
    const s = containerSpec(input({}, { sandboxConfig: { ...pod, linux: { securityContext: { namespaceOptions: { ipc: 2 } } } } }));
    expect(s.mounts.find((m) => m.destination === '/dev/shm')?.source).toBe('/dev/shm');
    expect(s.linux.namespaces?.find((n) => n.type === 'ipc')).toBeUndefined();
  });
});

describe('capabilities and privileges', () => {
  const caps = (add: string[], drop: string[]) => containerSpec(input({ linux: { securityContext: { capabilities: { addCapabilities: add, dropCapabilities: drop } } } })).process.capabilities;
  it('default set', () => {
    expect(caps([], [])?.bounding).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE']);
  });
  it.each([
    ['drop ALL + add one', ['NET_BIND_SERVICE'], ['ALL'], ['CAP_NET_BIND_SERVICE']],
    ['drop some', [], ['chown', 'CAP_KILL'], ['CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_AUDIT_WRITE']],
  ])('%s', (_, add, drop, want) => {
    const c = caps(add, drop);
    expect(c?.bounding).toEqual(want);
    expect(c?.effective).toEqual(want);
    expect(c?.permitted).toEqual(want);
  });
  it('add ALL gives what the daemon holds, minus drops', () => {
    const c = caps(['all'], ['SYS_ADMIN']);
    expect(c?.bounding).toHaveLength(CAPABILITY_NAMES.length - 2);
    expect(c?.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(c?.bounding).not.toContain('CAP_SYS_RESOURCE');
  });
  it('unknown names are InvalidArgument, caps the daemon lacks FailedPrecondition', () => {
    expect(kindOf(() => caps(['NOT_A_CAP'], []))).toBe('invalid-argument');
    expect(kindOf(() => caps([], ['BOGUS']))).toBe('invalid-argument');
    expect(kindOf(() => caps(['SYS_RESOURCE'], []))).toBe('failed-precondition');
  });
  it('privileged: daemon caps, host devices, no masks, rw sysfs, no seccomp', () => {
    const privPod = { ...pod, linux: { securityContext: { privileged: true } } };
    const s = containerSpec(input({ linux: { securityContext: { privileged: true, seccomp: { profileType: 0 } } } }, { sandboxConfig: privPod }));
    expect(s.process.capabilities?.bounding).toEqual(fakeHost().capabilities);
    expect(s.linux.maskedPaths).toBeUndefined();
    expect(s.linux.readonlyPaths).toBeUndefined();
    expect(s.mounts.find((m) => m.destination === '/sys')?.options).toContain('rw');
    expect(s.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('rw');
    expect(s.linux.devices).toEqual(fakeHost().hostDevices());
    expect(s.linux.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(s.linux.seccomp).toBeUndefined();
    expect(kindOf(() => containerSpec(input({ linux: { securityContext: { privileged: true } } })))).toBe('failed-precondition');
  });
  it('masked and readonly paths: containerd defaults, replaced by the CRI fields', () => {
    const s = containerSpec(input({}));
    expect(s.linux.maskedPaths).toEqual(DEFAULT_MASKED_PATHS);
    expect(s.linux.readonlyPaths).toContain('/proc/sys');
    const s2 = containerSpec(input({ linux: { securityContext: { maskedPaths: ['/proc/x'], readonlyPaths: ['/proc/y'] } } }));
    expect(s2.linux.maskedPaths).toEqual(['/proc/x']);
    expect(s2.linux.readonlyPaths).toEqual(['/proc/y']);
  });
  it('CRI devices', () => {
    const s = containerSpec(input({ devices: [{ hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'rw' }] }));
    expect(s.linux.devices).toEqual([expect.objectContaining({ type: 'c', path: '/dev/mynull', major: 1, minor: 3 })]);
    expect(s.linux.resources?.devices?.at(-1)).toEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
    expect(kindOf(() => containerSpec(input({ devices: [{ hostPath: '/dev/no-such-berth', containerPath: '/dev/x' }] })))).toBe('invalid-argument');
    expect(kindOf(() => containerSpec(input({ devices: [{ hostPath: '/dev/null', containerPath: '/dev/x', permissions: 'rwx' }] })))).toBe('invalid-argument');
  });
});

describe('security profiles', () => {
  const secured = (s: object) => input({ linux: { securityContext: s } });
  it('seccomp RuntimeDefault, unconfined, unset, localhost', () => {
    const rd = containerSpec(secured({ seccomp: { profileType: 'RuntimeDefault' } })).linux.seccomp;
    expect(rd?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(rd?.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(containerSpec(secured({ seccompProfilePath: 'runtime/default' })).linux.seccomp).toEqual(rd);
    expect(containerSpec(secured({ seccomp: { profileType: 1 } })).linux.seccomp).toBeUndefined();
    expect(containerSpec(secured({})).linux.seccomp).toBeUndefined();
    const prof = path.join(dir, 'profile.json');
    writeFileSync(prof, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }));
    expect(containerSpec(secured({ seccomp: { profileType: 2, localhostRef: prof } })).linux.seccomp).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
    expect(containerSpec(secured({ seccompProfilePath: `localhost/${prof}` })).linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
  });
  it.each([
    ['missing localhost profile', { seccomp: { profileType: 2, localhostRef: '/no/such/profile.json' } }, 'invalid-argument'],
    ['localhost_ref without Localhost', { seccomp: { profileType: 0, localhostRef: '/x' } }, 'invalid-argument'],
    ['bad profile path', { seccompProfilePath: 'weird' }, 'invalid-argument'],
  ] as const)('%s', (_, s, kind) => {
    expect(kindOf(() => containerSpec(secured(s)))).toBe(kind);
  });
  it('the default profile allows namespace syscalls only with CAP_SYS_ADMIN', () => {
    const names = (s: object) => (containerSpec(secured(s)).linux.seccomp?.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);
    expect(names({ seccomp: { profileType: 0 } })).not.toContain('unshare');
    expect(names({ seccomp: { profileType: 0 }, capabilities: { addCapabilities: ['SYS_ADMIN'] } })).toContain('unshare');
  });
});

/** A logger keeping its debug records. */
function debugRecorder() {
  const records: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = { debug: (obj: Record<string, unknown>, msg: string) => records.push({ obj, msg }) } as unknown as SpecLog;
  return { records, log };
}

/** The message of what `fn` throws ('' when it does not). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

describe('what kubelet sends whatever the host has (docs/oci-spec.md)', () => {
  const noLsm = fakeHost();
  const selinuxHost = fakeHost({ selinuxEnabled: true });
  /** A host with AppArmor whose kernel has `loaded` profiles (as /sys/kernel/security/apparmor/profiles lists them). */
  const apparmorHost = (loaded = ['berth-default']) => {
    const file = path.join(dir, `apparmor-profiles-${loaded.join('-') || 'none'}`);
    writeFileSync(file, loaded.map((n) => `${n} (enforce)\n`).join(''));
    return fakeHost({ apparmorEnabled: true, apparmorProfilesFile: file });
  };
  // kubelet's emptyDir/configMap/secret/projected volume: selinux_relabel on every node.
  const volume = () => ({ containerPath: '/data', hostPath: path.join(dir, 'vol'), selinuxRelabel: true });
  const selinux = { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' };

  it('selinux_relabel without SELinux: a plain bind mount, and a debug record naming it', () => {
    const { records, log } = debugRecorder();
    const s = containerSpec(input({ mounts: [volume()] }, { host: noLsm, log }));
    expect(s.mounts.find((m) => m.destination === '/data')).toEqual({ destination: '/data', type: 'bind', source: path.join(dir, 'vol'), options: ['rbind', 'rprivate', 'rw'] });
    expect(records).toEqual([{ obj: { containerPath: '/data', hostPath: path.join(dir, 'vol') }, msg: 'SELinux is not enabled on this host: selinux_relabel ignored' }]);
  });
  it('selinux_relabel with SELinux: refused, saying berth does not relabel', () => {
    const fn = () => containerSpec(input({ mounts: [volume()] }, { host: selinuxHost }));
    expect(kindOf(fn)).toBe('failed-precondition');
    expect(messageOf(fn)).toBe('mounts: selinux_relabel is set for /data, but berth does not relabel for SELinux (SELinux is enabled on this host)');
  });
  it('selinux_options without SELinux: no label in the spec, and a debug record; with SELinux: refused', () => {
    const { records, log } = debugRecorder();
    const s = containerSpec(input({ linux: { securityContext: { selinuxOptions: selinux } } }, { host: noLsm, log }));
    expect([s.process.selinuxLabel, s.linux.mountLabel]).toEqual([undefined, undefined]);
    expect(records).toEqual([{ obj: { field: 'security_context.selinux_options', selinuxOptions: selinux }, msg: 'SELinux is not enabled on this host: selinux_options ignored' }]);
    const fn = () => containerSpec(input({ linux: { securityContext: { selinuxOptions: selinux } } }, { host: selinuxHost }));
    expect(kindOf(fn)).toBe('failed-precondition');
    expect(messageOf(fn)).toMatch(/berth applies no SELinux labels \(SELinux is enabled on this host\)/);
    // Empty options are no options.
    expect(kindOf(() => containerSpec(input({ linux: { securityContext: { selinuxOptions: {} } } }, { host: selinuxHost })))).toBe('no error');
  });
  it('apparmor: Unconfined runs without a profile, with or without AppArmor; unset gets berth\'s default profile only with AppArmor', () => {
    for (const sc of [{ apparmor: { profileType: 'Unconfined' } }, { apparmorProfile: 'unconfined' }]) {
      for (const host of [noLsm, apparmorHost()]) {
        expect(containerSpec(input({ linux: { securityContext: sc } }, { host })).process.apparmorProfile).toBeUndefined();
      }
    }
    for (const sc of [{}, { apparmorProfile: '' }]) {
      expect(containerSpec(input({ linux: { securityContext: sc } }, { host: noLsm })).process.apparmorProfile).toBeUndefined();
      expect(containerSpec(input({ linux: { securityContext: sc } }, { host: apparmorHost() })).process.apparmorProfile).toBe('berth-default');
      const privPod = { ...pod, linux: { securityContext: { privileged: true } } };
      expect(containerSpec(input({ linux: { securityContext: { ...sc, privileged: true } } }, { host: apparmorHost(), sandboxConfig: privPod }))
        .process.apparmorProfile).toBeUndefined();
    }
  });
  it.each([
    ['RuntimeDefault', { apparmor: { profileType: 0 } }],
    ['runtime/default', { apparmorProfile: 'runtime/default' }],
    ['docker/default', { apparmorProfile: 'docker/default' }],
  ] as const)('apparmor %s: ignored without AppArmor (a no-op there), berth\'s default profile with AppArmor', (_, sc) => {
    expect(containerSpec(input({ linux: { securityContext: sc } }, { host: noLsm })).process.apparmorProfile).toBeUndefined();
    expect(containerSpec(input({ linux: { securityContext: sc } }, { host: apparmorHost() })).process.apparmorProfile).toBe('berth-default');
    const notLoaded = () => containerSpec(input({ linux: { securityContext: sc } }, { host: apparmorHost([]) }));
    expect(kindOf(notLoaded)).toBe('failed-precondition');
    expect(messageOf(notLoaded)).toBe('apparmor: berth\'s default profile berth-default is not loaded (the daemon logged why at start)');
  });
  it.each([
    ['Localhost', { apparmor: { profileType: 2, localhostRef: 'localhost/k8s-deny' } }],
    ['localhost/<name>', { apparmorProfile: 'localhost/k8s-deny' }],
  ] as const)('apparmor %s: refused without AppArmor, as containerd refuses it; the loaded profile with AppArmor', (_, sc) => {
    const without = () => containerSpec(input({ linux: { securityContext: sc } }, { host: noLsm }));
    expect(kindOf(without)).toBe('failed-precondition');
    expect(messageOf(without)).toBe('apparmor: profile Localhost "k8s-deny" needs AppArmor, and AppArmor is not enabled on this host (only Unconfined and RuntimeDefault run here)');
    expect(containerSpec(input({ linux: { securityContext: sc } }, { host: apparmorHost(['berth-default', 'k8s-deny']) })).process.apparmorProfile).toBe('k8s-deny');
    const missing = () => containerSpec(input({ linux: { securityContext: sc } }, { host: apparmorHost() }));
    expect(kindOf(missing)).toBe('failed-precondition');
    expect(messageOf(missing)).toBe('apparmor: profile Localhost "k8s-deny" is not loaded on this host (load it with apparmor_parser first)');
  });
  it('a malformed apparmor_profile names the deprecated field', () => {
    const fn = () => containerSpec(input({ linux: { securityContext: { apparmorProfile: 'weird' } } }));
    expect(kindOf(fn)).toBe('invalid-argument');
    expect(messageOf(fn)).toBe('apparmor_profile: invalid profile "weird"');
  });
  it('a pod with pid CONTAINER (kubelet): a POD-mode container joins the pause\'s pid namespace, a CONTAINER one gets its own', () => {
    const kubeletPod = { ...pod, linux: { securityContext: { namespaceOptions: { pid: 1 } } } };
    const pidOf = (pid: number) => containerSpec(input({ linux: { securityContext: { namespaceOptions: { pid } } } }, { sandboxConfig: kubeletPod })).linux.namespaces?.[0];
    expect(pidOf(0)).toEqual({ type: 'pid', path: '/proc/42/ns/pid' });
    expect(pidOf(1)).toEqual({ type: 'pid' });
  });
});

describe('namespaces, cgroups, resources, annotations', () => {
  const ns = (s: object, over: Partial<ContainerSpecInput> = {}) => containerSpec(input({ linux: { securityContext: { namespaceOptions: s } } }, over)).linux.namespaces;
  it.each([
    ['POD', { pid: 0 }, [{ type: 'pid', path: '/proc/42/ns/pid' }, { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts', path: '/proc/42/ns/uts' }, { type: 'mount' }, { type: 'network', path: '/proc/42/ns/net' }]],
    ['CONTAINER', { pid: 'CONTAINER' }, [{ type: 'pid' }, { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts', path: '/proc/42/ns/uts' }, { type: 'mount' }, { type: 'network', path: '/proc/42/ns/net' }]],
  ] as const)('pid %s', (_, opts, want) => {
    expect(ns(opts)).toEqual(want);
  });
  it('TARGET joins the target, NODE pods give host namespaces', () => {
    expect(ns({ pid: 3, targetId: 't' }, { targetPid: 77 })?.[0]).toEqual({ type: 'pid', path: '/proc/77/ns/pid' });
    expect(kindOf(() => ns({ pid: 3, targetId: 't' }))).toBe('invalid-argument');
    expect(kindOf(() => ns({ pid: 3 }, { targetPid: 77 }))).toBe('invalid-argument');
    const hostPod = { ...pod, linux: { securityContext: { namespaceOptions: { network: 2, pid: 2, ipc: 2 } } } };
    expect(ns({ pid: 2 }, { sandboxConfig: hostPod })).toEqual([{ type: 'mount' }]);
    expect(kindOf(() => ns({ network: 1 }))).toBe('invalid-argument');
    expect(kindOf(() => ns({}, { sandboxPid: undefined }))).toBe('invalid-argument');
  });
  it('a pod without a pause process: the pinned files are joined by path, pid POD gets a namespace of its own', () => {
    const pinned = { network: '/run/b/netns/s1', ipc: '/run/b/podns/s1/ipc', uts: '/run/b/podns/s1/uts' };
    const want = [{ type: 'pid' }, { type: 'ipc', path: pinned.ipc }, { type: 'uts', path: pinned.uts }, { type: 'mount' }, { type: 'network', path: pinned.network }];
    expect(ns({ pid: 1 }, { sandboxPid: 0, podNamespaces: pinned })).toEqual(want);
    expect(ns({ pid: 0 }, { sandboxPid: 0, podNamespaces: pinned })).toEqual(want);
    expect(kindOf(() => ns({ pid: 1 }, { sandboxPid: 0, podNamespaces: { network: pinned.network } }))).toBe('invalid-argument');
  });
  it('cgroup path, resources and oom_score_adj (never below the daemon)', () => {
    const s = containerSpec(input({ linux: { resources: { cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, memoryLimitInBytes: 1 << 26, cpusetCpus: '0-1', cpusetMems: '0', oomScoreAdj: -500, hugepageLimits: [{ pageSize: '2MB', limit: 4096 }] } } }, {
      sandboxConfig: { ...pod, linux: { cgroupParent: '/kubepods/pod1' } }, host: fakeHost({ oomScoreAdj: -100 }),
    }));
    expect(s.linux.cgroupsPath).toBe('/kubepods/pod1/c1');
    expect(s.linux.resources?.cpu).toEqual({ shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' });
    expect(s.linux.resources?.memory).toEqual({ limit: 1 << 26, swap: 1 << 26 });
    expect(s.linux.resources?.hugepageLimits).toEqual([{ pageSize: '2MB', limit: 4096 }]);
    expect(s.process.oomScoreAdj).toBe(-100);
    expect(containerSpec(input({})).linux.cgroupsPath).toBe('/k8s.io/c1');
    expect(containerSpec(input({}, { sandboxConfig: { ...pod, linux: { cgroupParent: 'kubepods-pod1.slice' } } })).linux.cgroupsPath).toBe('kubepods-pod1.slice:cri-containerd:c1');
  });
  it.each([
    ['negative memory', { memoryLimitInBytes: -1 }],
    ['negative shares', { cpuShares: -2 }],
    ['quota below -1', { cpuQuota: -5 }],
    ['oom out of range', { oomScoreAdj: 1001 }],
    ['bad cpuset', { cpusetCpus: 'x' }],
  ])('%s is InvalidArgument', (_, r) => {
    expect(kindOf(() => containerSpec(input({ linux: { resources: r } })))).toBe('invalid-argument');
  });
  it('annotations: CRI ones plus filtered pod/container annotations', () => {
    const s = containerSpec(input({ annotations: { 'c.io/x': 'y', 'skip': 'n' } }, { runtime: { podAnnotations: ['team.io/*'], containerAnnotations: ['c.io/?'] } }));
    expect(s.annotations).toEqual({
      'team.io/a': '1', 'c.io/x': 'y',
      'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 's1',
      'io.kubernetes.cri.sandbox-namespace': 'ns', 'io.kubernetes.cri.sandbox-uid': 'u-1',
      'io.kubernetes.cri.sandbox-name': 'p', 'io.kubernetes.cri.container-name': 'ctr',
      'io.kubernetes.cri.image-name': 'busybox:latest',
    });
  });
});
