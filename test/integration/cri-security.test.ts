// The security context through the CRI, under each runtime handler: CreateContainer +
// StartContainer on a real berth daemon, each rule checked from INSIDE the container (its CRI log,
// or ExecSync). One privileged pod (with pod sysctls) and one pod on the host's pid/ipc/network
// namespaces; many short containers in them. cri/oci's unit tests and oci-security.test.ts (raw
// runc) check the same rules one layer down.
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { capabilitiesFromMask } from '../../cri/oci/index.js';
import { runtime } from '../../proto/cri.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const { ProfileType } = v1.SecurityProfile;
const { NamespaceMode } = v1;
type SecurityContext = runtime.v1.LinuxContainerSecurityContext.$Properties;

/** containerd's default capability set (CHOWN ... AUDIT_WRITE, SETFCAP) as a /proc mask. */
const DEFAULT_CAPS = '00000000a80425fb';
const field = (text: string, name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
/** The text of a CRI log: records joined, a P record continuing the next one. */
const logText = (raw: string) => raw.split('\n').filter(Boolean).map((l) => {
  const m = /^\S+ (?:stdout|stderr) ([PF]) (.*)$/.exec(l);
  return m ? (m[1] === 'F' ? `${m[2]}\n` : m[2]) : '';
}).join('').trimEnd();

describe.each(CRI_HANDLERS)('CRI security context on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  let counter = 0;
  const pods: Record<'main' | 'host', { id: string; config: ReturnType<typeof podConfig>; pausePid: number }> = {} as never;

  beforeAll(async () => {
    b = berth();
    const make = async (name: string, linux: Record<string, unknown>) => {
      const config = podConfig(b, name, { linux });
      const { podSandboxId: id } = await b.cri.runtime.RunPodSandbox({ config });
      const info = JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: id, verbose: true })).info.info!) as { pid: number };
      return { id, config, pausePid: info.pid };
    };
    pods.main = await make('sec', {
      securityContext: { privileged: true },
      sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1234', 'kernel.shm_rmid_forced': '1' },
    });
    pods.host = await make('hostns', {
      securityContext: { namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.NODE, ipc: NamespaceMode.NODE } },
    });
  }, 60_000);
  beforeEach(() => {
    b = berth();
  });

  const config = (name: string, command: string[], sc: SecurityContext) => ({
    metadata: { name }, image: { image: LOCAL_BUSYBOX }, command, logPath: `${name}.log`, linux: { securityContext: sc },
  });

  /** Runs `sh -c script` as a container of `pod` with `sc`; its log text and exit code once it exited. */
  async function runIn(script: string, sc: SecurityContext = {}, pod: 'main' | 'host' = 'main') {
    const p = pods[pod];
    const name = `c${++counter}`;
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId: p.id, sandboxConfig: p.config, config: config(name, ['/bin/sh', '-c', script], sc),
    });
    try {
      await b.cri.runtime.StartContainer({ containerId });
      const st = await until(async () => {
        const s = (await b.cri.runtime.ContainerStatus({ containerId })).status!;
        return s.state === v1.ContainerState.CONTAINER_EXITED ? s : undefined;
      }, `${name} to exit`);
      return { out: logText(readFileSync(path.join(p.config.logDirectory, `${name}.log`), 'utf8')), exitCode: st.exitCode, reason: st.reason };
    } finally {
      await b.cri.runtime.RemoveContainer({ containerId });
    }
  }

  const ns = (pid: number | 'self', type: string) => readlinkSync(`/proc/${pid}/ns/${type}`);
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();

  describe('users and groups', () => {
    it('run_as_user / run_as_group by id, with supplemental groups', async () => {
      const r = await runIn('id -u; id -g; id -G', { runAsUser: { value: 1000 }, runAsGroup: { value: 2000 }, supplementalGroups: [3000, 4000] });
      const [uid, gid, groups] = r.out.split('\n');
      expect([uid, gid]).toEqual(['1000', '2000']);
      expect(new Set(groups!.split(' '))).toEqual(new Set(['2000', '3000', '4000']));
    });

    it('run_as_username resolved from the image\'s /etc/passwd, with and without run_as_group', async () => {
      expect((await runIn('id -un; id -u; id -g', { runAsUsername: 'nobody' })).out.split('\n')).toEqual(['nobody', '65534', '65534']);
      expect((await runIn('id -u; id -g', { runAsUsername: 'nobody', runAsGroup: { value: 2000 } })).out.split('\n')).toEqual(['65534', '2000']);
    });

    it('an unknown user name, or a group without a user, is InvalidArgument and leaves no container behind', async () => {
      const before = (await b.cri.runtime.ListContainers({})).containers.length;
      for (const sc of [{ runAsUsername: 'nosuchuser' }, { runAsGroup: { value: 2000 } }]) {
        await expect(b.cri.runtime.CreateContainer({
          podSandboxId: pods.main.id, sandboxConfig: pods.main.config, config: config('baduser', ['/bin/true'], sc),
        })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
      }
      expect((await b.cri.runtime.ListContainers({})).containers.length).toBe(before);
    });
  });

  describe('capabilities and privileges', () => {
    it('the default set; drop NET_RAW + add SYS_ADMIN; drop ALL + add NET_BIND_SERVICE', async () => {
      const caps = 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status';
      const def = (await runIn(caps)).out;
      expect([field(def, 'CapEff'), field(def, 'CapBnd')]).toEqual([DEFAULT_CAPS, DEFAULT_CAPS]);
      const changed = (await runIn(caps, { capabilities: { dropCapabilities: ['NET_RAW'], addCapabilities: ['SYS_ADMIN'] } })).out;
      const names = capabilitiesFromMask(field(changed, 'CapEff')!);
      expect(names).toContain('CAP_SYS_ADMIN');
      expect(names).not.toContain('CAP_NET_RAW');
      expect(names).toHaveLength(capabilitiesFromMask(DEFAULT_CAPS).length);
      const only = (await runIn(caps, { capabilities: { dropCapabilities: ['ALL'], addCapabilities: ['NET_BIND_SERVICE'] } })).out;
      expect([field(only, 'CapEff'), field(only, 'CapPrm'), field(only, 'CapBnd')]).toEqual(Array(3).fill('0000000000000400'));
      const none = (await runIn(caps, { capabilities: { dropCapabilities: ['ALL'] } })).out;
      expect(field(none, 'CapBnd')).toBe('0000000000000000');
    });

    it('privileged gets exactly the daemon\'s capabilities, no seccomp, unmasked /proc and the host devices', async () => {
      const r = await runIn('grep -E "^(CapEff|Seccomp):" /proc/self/status; echo "size: $(wc -c < /proc/timer_list)"; ls /dev/kmsg', { privileged: true });
      const own = field(readFileSync('/proc/self/status', 'utf8'), 'CapBnd')!; // the daemon is this process's child, as root
      expect(capabilitiesFromMask(field(r.out, 'CapEff')!)).toEqual(capabilitiesFromMask(own));
      expect(field(r.out, 'Seccomp')).toBe('0');
      expect(Number(field(r.out, 'size'))).toBeGreaterThan(0);
      expect(r.out.split('\n').at(-1)).toBe('/dev/kmsg');
      const plain = await runIn('echo "size: $(wc -c < /proc/timer_list)"; ls /dev/kmsg 2>&1; echo rc=$?');
      expect(field(plain.out, 'size')).toBe('0'); // masked
      expect(plain.out).toMatch(/rc=1/);
    });

    it('a privileged container in a pod that is not privileged is refused', async () => {
      await expect(b.cri.runtime.CreateContainer({
        podSandboxId: pods.host.id, sandboxConfig: pods.host.config, config: config('notallowed', ['/bin/true'], { privileged: true }),
      })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
    });

    it('no_new_privs sets NoNewPrivs; off by default', async () => {
      expect(field((await runIn('cat /proc/self/status', { noNewPrivs: true })).out, 'NoNewPrivs')).toBe('1');
      expect(field((await runIn('cat /proc/self/status')).out, 'NoNewPrivs')).toBe('0');
    });

    it('readonly rootfs refuses writes; the pod\'s files stay mounted', async () => {
      const r = await runIn('touch /probe 2>&1; echo rc=$?; cat /etc/hostname', { readonlyRootfs: true });
      expect(r.out).toMatch(/Read-only file system/);
      expect(r.out.split('\n').slice(-2)).toEqual(['rc=1', 'sec']);
      expect((await runIn('touch /probe && echo wrote')).out).toBe('wrote');
    });

    it('ExecSync runs with the container\'s user, capabilities and no_new_privs', async () => {
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pods.main.id, sandboxConfig: pods.main.config,
        config: config('execuser', ['/bin/sleep', '300'], { runAsUser: { value: 1000 }, capabilities: { dropCapabilities: ['ALL'] }, noNewPrivs: true }),
      });
      try {
        await b.cri.runtime.StartContainer({ containerId });
        const r = await b.cri.runtime.ExecSync({ containerId, cmd: ['/bin/sh', '-c', 'id -u; grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status'], timeout: 10 });
        const out = Buffer.from(r.stdout).toString();
        expect(out.split('\n')[0]).toBe('1000');
        expect([field(out, 'CapBnd'), field(out, 'NoNewPrivs')]).toEqual(['0000000000000000', '1']);
      } finally {
        await b.cri.runtime.RemoveContainer({ containerId });
      }
    });
  });

  describe('seccomp', () => {
    const probe = 'grep ^Seccomp: /proc/self/status; unshare -U true 2>&1; echo unshare=$?; mkdir /tmp/d 2>&1; echo mkdir=$?';

    it('RuntimeDefault filters (unshare is EPERM); Unconfined does not', async () => {
      const def = (await runIn(probe, { seccomp: { profileType: ProfileType.RuntimeDefault } })).out;
      expect(field(def, 'Seccomp')).toBe('2');
      expect(def).toMatch(/Operation not permitted\nunshare=1/);
      expect(def).toMatch(/mkdir=0/);
      const unconfined = (await runIn(probe, { seccomp: { profileType: ProfileType.Unconfined } })).out;
      expect(field(unconfined, 'Seccomp')).toBe('0');
      expect(unconfined).toMatch(/unshare=0/);
    });

    it('a Localhost profile is loaded from its path; a missing one is InvalidArgument', async () => {
      const profile = path.join(b.dir, `seccomp-${handler}.json`);
      writeFileSync(profile, JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }));
      const r = (await runIn(probe, { seccomp: { profileType: ProfileType.Localhost, localhostRef: profile } })).out;
      expect(field(r, 'Seccomp')).toBe('2');
      expect(r).toMatch(/unshare=0/);
      expect(r).toMatch(/Operation not permitted\nmkdir=1/);
      await expect(b.cri.runtime.CreateContainer({
        podSandboxId: pods.main.id, sandboxConfig: pods.main.config,
        config: config('badprofile', ['/bin/true'], { seccomp: { profileType: ProfileType.Localhost, localhostRef: path.join(b.dir, 'nosuch.json') } }),
      })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
    });
  });

  describe('namespaces and sysctls', () => {
    const nsProbe = 'tr "\\0" " " < /proc/1/cmdline; echo; for t in ipc net pid; do readlink /proc/self/ns/$t; done';
    const lines = (text: string) => text.split('\n').map((l) => l.trimEnd());

    it('pid POD shares the pause process; CONTAINER is alone; ipc and net are the pod\'s', async () => {
      const pause = pods.main.pausePid;
      const podMode = lines((await runIn(nsProbe, { namespaceOptions: { pid: NamespaceMode.POD } })).out);
      expect(podMode).toEqual([cmdline(pause), ns(pause, 'ipc'), ns(pause, 'net'), ns(pause, 'pid')]);
      expect(ns(pause, 'ipc')).not.toBe(ns('self', 'ipc'));
      expect(ns(pause, 'net')).not.toBe(ns('self', 'net'));
      const own = lines((await runIn(nsProbe, { namespaceOptions: { pid: NamespaceMode.CONTAINER } })).out);
      expect(own[0]).toMatch(/^\/bin\/sh -c /);
      expect(own.slice(1, 3)).toEqual([ns(pause, 'ipc'), ns(pause, 'net')]);
      expect(own[3]).not.toBe(ns(pause, 'pid'));
    });

    it('pid, ipc and network NODE are the host\'s', async () => {
      // the daemon (this process's child) runs in the host's namespaces
      const r = lines((await runIn(nsProbe, { namespaceOptions: { pid: NamespaceMode.NODE, ipc: NamespaceMode.NODE, network: NamespaceMode.NODE } }, 'host')).out);
      expect(r).toEqual([cmdline(1), ns('self', 'ipc'), ns('self', 'net'), ns('self', 'pid')]);
    });

    it('pod sysctls are set in the pod\'s namespaces; the host keeps its own', async () => {
      const r = await runIn('cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced');
      expect(r.out.split('\n')).toEqual(['1234', '1']);
      expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()).not.toBe('1234');
    });
  });
});
