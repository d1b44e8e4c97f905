// The specs of cri/oci run for real: a pause-like sandbox and app containers under runc, each
// security-context rule checked from inside the container. runc state lives in a temp root,
// every container and cgroup made here is removed after.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  capabilitiesFromMask, containerSpec, readHostInfo, sandboxSpec,
  type ContainerSpecInput, type CriContainerConfig, type CriPodSandboxConfig, type OciSpec,
} from '../../cri/oci/index.js';

const runcOk = spawnSync('runc', ['--version']).status === 0 && process.getuid?.() === 0;
const uniq = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
let dir: string;
let rootfs: string;
let runcRoot: string;
let sandboxPid = 0;
const sandboxId = `berth-oci-sb-${uniq}`;
const cgroupParent = `/berth-oci-${uniq}`;
let files: { hostsPath: string; resolvConfPath: string; hostnamePath: string; devShmPath: string };
let counter = 0;

const pod: CriPodSandboxConfig = {
  metadata: { name: 'sec', uid: `uid-${uniq}`, namespace: 'default' },
  hostname: 'pod-host',
  linux: {
    cgroupParent,
    sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1234', 'kernel.shm_rmid_forced': '1' },
    securityContext: { privileged: true },
  },
};

// A detached container inherits runc's stdio: pipes there would keep spawnSync waiting, so
// `run -d` gets none and reports through runc's --log file.
function runc(args: string[], opts: { detach?: boolean } = {}) {
  const log = opts.detach ? ['--log', path.join(dir, 'runc.log')] : [];
  return spawnSync('runc', ['--root', runcRoot, ...log, ...args], {
    encoding: 'utf8', timeout: 30_000, stdio: opts.detach ? 'ignore' : ['ignore', 'pipe', 'pipe'],
  });
}

function writeBundle(id: string, spec: OciSpec): string {
  const bundle = path.join(dir, 'bundles', id);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ...spec, root: { ...spec.root, path: rootfs } }));
  return bundle;
}

/** Runs `sh -c script` in a container made by containerSpec; returns its output and status. */
function runIn(script: string, config: CriContainerConfig = {}, over: Partial<ContainerSpecInput> = {}) {
  const id = `berth-oci-c${++counter}-${uniq}`;
  const spec = containerSpec({
    id, sandboxId, sandboxPid, config: { metadata: { name: `c${counter}` }, command: ['/bin/sh', '-c', script], ...config },
    sandboxConfig: pod, imageConfig: { Env: ['PATH=/bin'] }, imageName: 'busybox:test', rootfs, sandboxFiles: files, ...over,
  });
  const bundle = writeBundle(id, spec);
  try {
    const r = runc(['run', '-b', bundle, id]);
    return { out: r.stdout.trim(), err: r.stderr.trim(), status: r.status };
  } finally {
    runc(['delete', '-f', id]);
  }
}

const sc = (securityContext: NonNullable<CriContainerConfig['linux']>['securityContext']): CriContainerConfig => ({ linux: { securityContext } });
const statusField = (text: string, field: string) => new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(text)?.[1];

beforeAll(() => {
  if (!runcOk) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-oci-int-'));
  rootfs = path.join(dir, 'rootfs');
  runcRoot = path.join(dir, 'runc');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', path.join(rootfs, 'bin/busybox'));
  const applets = spawnSync('/usr/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', path.join(rootfs, 'bin', a));
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:2000::/tmp:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\ngrp:x:2000:\nextra:x:3000:app\n');
  for (const f of ['hosts', 'resolv.conf', 'hostname']) {
    writeFileSync(path.join(rootfs, 'etc', f), '');
    writeFileSync(path.join(dir, f), f === 'hostname' ? 'pod-host\n' : '');
  }
  mkdirSync(path.join(dir, 'shm'));
  files = {
    hostsPath: path.join(dir, 'hosts'), resolvConfPath: path.join(dir, 'resolv.conf'),
    hostnamePath: path.join(dir, 'hostname'), devShmPath: path.join(dir, 'shm'),
  };
  const spec = sandboxSpec({
    id: sandboxId, config: pod, imageConfig: { Entrypoint: ['/bin/sleep', '3600'] }, sandboxFiles: files,
  });
  const bundle = writeBundle(sandboxId, spec);
  const pidFile = path.join(dir, 'sandbox.pid');
  const r = runc(['run', '-d', '--pid-file', pidFile, '-b', bundle, sandboxId], { detach: true });
  if (r.status !== 0) throw new Error(`sandbox did not start: ${readFileSync(path.join(dir, 'runc.log'), 'utf8')}`);
  sandboxPid = Number(readFileSync(pidFile, 'utf8').trim());
});

afterAll(() => {
  if (!runcOk || !dir) return;
  runc(['delete', '-f', sandboxId]);
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    try {
      rmdirSync(path.join('/sys/fs/cgroup', controller, cgroupParent));
    } catch {
      // not made in this controller
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!runcOk)('OCI specs under runc: the security context seen from inside', () => {
  it('runs as uid/gid by id, with /etc/group memberships and supplemental groups', () => {
    const r = runIn('id -u; id -g; id -G', sc({ runAsUser: { value: 1000 }, supplementalGroups: [5555] }));
    expect(r.out.split('\n')).toEqual(['1000', '2000', '2000 3000 5555']);
  });

  it('runs as the image user by name:group', () => {
    const r = runIn('id -un; id -gn; id -u; id -g', {}, { imageConfig: { Env: ['PATH=/bin'], User: 'app:extra' } });
    expect(r.out.split('\n')).toEqual(['app', 'extra', '1000', '3000']);
  });

  it('drop ALL + add NET_BIND_SERVICE leaves exactly that capability', () => {
    const r = runIn('grep -E "^Cap(Eff|Bnd|Prm)" /proc/self/status', sc({ capabilities: { dropCapabilities: ['ALL'], addCapabilities: ['NET_BIND_SERVICE'] } }));
    expect(statusField(r.out, 'CapEff')).toBe('0000000000000400');
    expect(statusField(r.out, 'CapBnd')).toBe('0000000000000400');
  });

  it('privileged gets exactly the capabilities the daemon holds, and all host devices', () => {
    const r = runIn('grep CapEff /proc/self/status; ls /dev/null /dev/zero /dev/full', sc({ privileged: true }));
    expect(r.status).toBe(0);
    const own = statusField(readFileSync('/proc/self/status', 'utf8'), 'CapBnd') ?? '';
    expect(capabilitiesFromMask(statusField(r.out, 'CapEff') ?? '0')).toEqual(capabilitiesFromMask(own));
    expect(readHostInfo().capabilities).toEqual(capabilitiesFromMask(own));
  });

  it('readonly rootfs refuses writes; the pod files stay mounted', () => {
    const r = runIn('touch /probe 2>&1; echo rc=$?; cat /etc/hostname', sc({ readonlyRootfs: true }));
    expect(r.out).toMatch(/Read-only file system/);
    expect(r.out).toMatch(/rc=1/);
    expect(r.out).toMatch(/pod-host/);
  });

  it('seccomp RuntimeDefault blocks unshare(2); Unconfined allows it', () => {
    const blocked = runIn('unshare -U true 2>&1; echo rc=$?', sc({ seccomp: { profileType: 'RuntimeDefault' } }));
    expect(blocked.out).toMatch(/Operation not permitted/);
    expect(blocked.out).toMatch(/rc=1/);
    const allowed = runIn('unshare -U true 2>&1; echo rc=$?', sc({ seccomp: { profileType: 'Unconfined' } }));
    expect(allowed.out).toBe('rc=0');
    const status = runIn('grep ^Seccomp: /proc/self/status', sc({ seccomp: { profileType: 0 } }));
    expect(statusField(status.out, 'Seccomp')).toBe('2');
  });

  it('seccomp RuntimeDefault allows pipes: a pipeline and a command substitution run', () => {
    const r = runIn('echo "$(echo sub)" | cat 2>&1', sc({ seccomp: { profileType: 'RuntimeDefault' } }));
    expect(r.out).toBe('sub');
  });

  it('pid namespace modes: POD shares the pause process, CONTAINER is alone, NODE sees the host', () => {
    const podMode = runIn('cat /proc/1/cmdline | tr "\\0" " "', sc({ namespaceOptions: { pid: 'POD' } }));
    expect(podMode.out).toBe('/bin/sleep 3600');
    const own = runIn('cat /proc/1/cmdline | tr "\\0" " "', sc({ namespaceOptions: { pid: 'CONTAINER' } }));
    expect(own.out).toMatch(/^\/bin\/sh -c /);
    const hostPod = { ...pod, linux: { ...pod.linux, securityContext: { namespaceOptions: { pid: 2 } } } };
    const node = runIn('cat /proc/1/cmdline | tr "\\0" " "', sc({ namespaceOptions: { pid: 'NODE' } }), { sandboxConfig: hostPod });
    expect(node.out).toBe(readFileSync('/proc/1/cmdline', 'utf8').replace(/\0/g, ' ').trim());
  });

  it('joins the pod UTS and network namespaces: hostname and pod sysctls', () => {
    const r = runIn('hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced');
    expect(r.out.split('\n')).toEqual(['pod-host', '1234', '1']);
  });

  it('no_new_privs sets NoNewPrivs', () => {
    expect(statusField(runIn('cat /proc/self/status', sc({ noNewPrivs: true })).out, 'NoNewPrivs')).toBe('1');
    expect(statusField(runIn('cat /proc/self/status').out, 'NoNewPrivs')).toBe('0');
  });

  it('masks /proc/timer_list (kcore is absent on this kernel) and makes /proc/sys read-only by default', () => {
    expect(readFileSync('/proc/timer_list', 'utf8').length).toBeGreaterThan(0);
    const r = runIn('wc -c < /proc/timer_list; (echo 1 > /proc/sys/kernel/shm_rmid_forced) 2>&1; echo rc=$?');
    expect(r.out.split('\n')[0]?.trim()).toBe('0');
    expect(r.out).toMatch(/Read-only file system/);
  });

  it('oom_score_adj is never below the daemon\'s own', () => {
    const daemon = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
    const r = runIn('cat /proc/self/oom_score_adj', { linux: { resources: { oomScoreAdj: -500 } } });
    expect(Number(r.out)).toBe(Math.max(-500, daemon));
    const high = runIn('cat /proc/self/oom_score_adj', { linux: { resources: { oomScoreAdj: 700 } } });
    expect(high.out).toBe('700');
    expect(Number(readFileSync(`/proc/${sandboxPid}/oom_score_adj`, 'utf8').trim())).toBe(Math.max(-998, daemon));
  });
});
