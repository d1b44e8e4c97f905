// What a local user and a pod config cannot reach (docs/security.md), on a real daemon:
// - a host user (nobody, through setpriv) cannot read a content blob, a level store file or a
//   container's record dir, nor list an unpacked snapshot or the root; the modes are containerd's
//   and a restart fixes dirs an older install left open;
// - a relative log_directory and a log_path that climbs out of it are refused, nothing is written;
// - enable_unprivileged_ports / enable_unprivileged_icmp put their sysctls in the pod's netns
//   (not for a host-network pod), as containerd does.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { LOCAL_BUSYBOX, podConfig, useBerth, type Berth } from './cri-harness.js';

const { NamespaceMode } = runtime.v1;

/** Runs `argv` as nobody (uid/gid 65534, no groups): its exit status and stderr. */
function asNobody(argv: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** The first path under `dir` (depth first) that `pick` accepts. */
function findUnder(dir: string, pick: (p: string, isDir: boolean) => boolean): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (pick(p, e.isDirectory())) return p;
    if (e.isDirectory()) {
      const found = findUnder(p, pick);
      if (found) return found;
    }
  }
  return undefined;
}

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('hardening on a real daemon', () => {
  const berth = useBerth();
  let b: Berth;
  let root: string;

  beforeAll(() => {
    b = berth();
    root = path.join(b.dir, 'root');
    // The test's temp dir stands for /var/lib: others may pass through it.
    chmodSync(b.dir, 0o755);
  });

  it('keeps the root, content, snapshots, level stores and container records from host users', async () => {
    const config = podConfig(b, 'hostusers');
    const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config });
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId, sandboxConfig: config,
      config: { metadata: { name: 'c' }, image: { image: LOCAL_BUSYBOX }, command: ['sleep', '1000'], envs: [{ key: 'SECRET', value: 'hunter2' }] },
    });
    await b.cri.runtime.StartContainer({ containerId });

    const blob = findUnder(path.join(root, 'images', 'content'), (p, d) => !d && p.includes(`${path.sep}sha256${path.sep}`));
    const levelFile = path.join(root, 'cri', 'store', 'CURRENT');
    const recordDir = path.join(root, 'cri', 'containers', containerId);
    const snapshot = findUnder(path.join(root, 'images', 'snapshots'), (p, d) => d && path.basename(p) === 'fs');
    expect(blob).toBeDefined();
    expect(snapshot).toBeDefined();
    expect(existsSync(levelFile)).toBe(true);
    expect(existsSync(recordDir)).toBe(true);

    // Root can read them all; nobody gets EACCES on each.
    for (const argv of [['cat', blob!], ['cat', levelFile], ['ls', recordDir], ['ls', snapshot!], ['ls', root]]) {
      expect(spawnSync(argv[0]!, argv.slice(1)).status).toBe(0);
      const r = asNobody(argv);
      expect(r.status, `${argv.join(' ')} as nobody`).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }

    // containerd's modes: root 0711, every store under it 0700; the CRI socket 0660, the events socket 0600.
    expect(mode(root)).toBe(0o711);
    for (const d of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      expect(mode(path.join(root, d.name)), d.name).toBe(0o700);
    }
    expect(mode(b.address)).toBe(0o660);
    expect(mode(`${b.address}.ttrpc`)).toBe(0o600);

    await b.cri.runtime.StopPodSandbox({ podSandboxId });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId });
  }, 60_000);

  it('tightens dirs an older install left open when it starts', async () => {
    const open = ['cri', 'images', 'image-db', 'exits'].map((d) => path.join(root, d));
    await b.kill('SIGTERM');
    chmodSync(root, 0o755);
    for (const d of open) chmodSync(d, 0o755);
    await b.start();
    expect(mode(root)).toBe(0o711);
    for (const d of open) expect(mode(d), d).toBe(0o700);
  }, 60_000);

  it('refuses a relative log_directory and a log_path that climbs out of it; nothing is written', async () => {
    const marker = `berth-hardening-${process.pid}-${Date.now()}`;
    const rel = path.relative(process.cwd(), path.join(b.dir, marker));
    await expect(b.cri.runtime.RunPodSandbox({ config: { ...podConfig(b, 'rellog'), logDirectory: `../../../../${marker}` } }))
      .rejects.toSatisfy((e) => isKind(e, 'invalid-argument') && /log_directory .* is not an absolute path/.test((e as Error).message));
    await expect(b.cri.runtime.RunPodSandbox({ config: { ...podConfig(b, 'rellog2'), logDirectory: rel } }))
      .rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
    expect(existsSync(path.join(b.dir, marker))).toBe(false);

    const config = podConfig(b, 'escapelog');
    const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config });
    try {
      await expect(b.cri.runtime.CreateContainer({
        podSandboxId, sandboxConfig: config,
        config: { metadata: { name: 'esc' }, image: { image: LOCAL_BUSYBOX }, command: ['true'], logPath: `../../${marker}.log` },
      })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument') && /escapes/.test((e as Error).message));
      expect(existsSync(path.join(b.dir, `${marker}.log`))).toBe(false);
      expect((await b.cri.runtime.ListContainers({ filter: { podSandboxId } })).containers).toEqual([]);
    } finally {
      await b.cri.runtime.StopPodSandbox({ podSandboxId });
      await b.cri.runtime.RemovePodSandbox({ podSandboxId });
    }
  }, 60_000);

  it('enable_unprivileged_ports / enable_unprivileged_icmp set their sysctls in a pod netns, not on the host network', async () => {
    const file = path.join(b.dir, 'config.toml');
    const before = readFileSync(file, 'utf8');
    await b.kill('SIGTERM');
    // Top-level keys go before the first table.
    writeFileSync(file, `enable_unprivileged_ports = true\nenable_unprivileged_icmp = true\n${before}`);
    try {
      await b.start();
      const sysctl = (pid: number, key: string) => {
        const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'cat', `/proc/sys/${key.replace(/\./g, '/')}`], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout.trim().replace(/\s+/g, ' ');
      };
      const pausePid = async (id: string) =>
        (JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: id, verbose: true })).info.info!) as { pid: number }).pid;

      const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'unpriv') });
      const custom = await b.cri.runtime.RunPodSandbox({
        config: podConfig(b, 'unpriv-own', { linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '600' } } }),
      });
      const host = await b.cri.runtime.RunPodSandbox({
        config: podConfig(b, 'unpriv-host', { linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } }),
      });
      try {
        const pid = await pausePid(pod);
        expect(sysctl(pid, 'net.ipv4.ip_unprivileged_port_start')).toBe('0');
        expect(sysctl(pid, 'net.ipv4.ping_group_range')).toBe('0 2147483647');
        // A value the pod sets itself wins.
        expect(sysctl(await pausePid(custom.podSandboxId), 'net.ipv4.ip_unprivileged_port_start')).toBe('600');
        // The host's netns is never changed.
        expect(sysctl(process.pid, 'net.ipv4.ip_unprivileged_port_start')).toBe(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
        expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()).not.toBe('0');
      } finally {
        for (const id of [pod, custom.podSandboxId, host.podSandboxId]) {
          await b.cri.runtime.StopPodSandbox({ podSandboxId: id });
          await b.cri.runtime.RemovePodSandbox({ podSandboxId: id });
        }
      }
    } finally {
      await b.kill('SIGTERM');
      writeFileSync(file, before);
      await b.start();
    }
  }, 90_000);
});
