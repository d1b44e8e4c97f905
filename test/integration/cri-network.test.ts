// Pod networking through the CRI socket of a real berth daemon with the real CNI plugins (a
// private bridge, subnet and host-local dataDir per daemon; traffic stays on it or on loopback):
// pod-to-pod by pod IP, a hostPort on 127.0.0.1 whose rule goes with the pod, undo of a later
// failing step, host network, /etc/hosts and /etc/resolv.conf, and NetworkReady / RunPodSandbox
// without any CNI config.
import { readFileSync, readlinkSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { LOCAL_BUSYBOX, podConfig, until, useBerth, type Berth } from './cri-harness.js';
import { fetchText, leftovers, NOTHING_LEFT, sh, unreachable } from './network-harness.js';

const v1 = runtime.v1;
const HOST_NETWORK = { linux: { securityContext: { namespaceOptions: { network: v1.NamespaceMode.NODE } } } };

/** A pod with one busybox container running `script`; returns the pod and container ids. */
async function podWith(b: Berth, name: string, script: string, extra: Record<string, unknown> = {}) {
  const config = podConfig(b, name, extra);
  const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
  const { containerId } = await b.cri.runtime.CreateContainer({
    podSandboxId: pod, sandboxConfig: config,
    config: { metadata: { name: 'c' }, image: { image: LOCAL_BUSYBOX }, command: ['/bin/sh', '-c', script] },
  });
  await b.cri.runtime.StartContainer({ containerId });
  return { pod, containerId };
}

async function exec(b: Berth, containerId: string, script: string): Promise<{ out: string; code: number }> {
  const r = await b.cri.runtime.ExecSync({ containerId, cmd: ['/bin/sh', '-c', script], timeout: 10 });
  return { out: Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString(), code: r.exitCode };
}

async function removePod(b: Berth, pod: string): Promise<void> {
  await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
  await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
}

const HTTPD = (text: string, port: number) => `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www`;
const ifaces = (procNetDev: string) => procNetDev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();

describe('CRI pod network (bridge + host-local + portmap)', () => {
  const berth = useBerth();

  it('reports NetworkReady; two pods reach each other by pod IP; both IPs are in the pod subnet', async () => {
    const b = berth();
    const cond = (await b.cri.runtime.Status({})).status!.conditions!.find((c) => c.type === 'NetworkReady')!;
    expect([cond.status, cond.reason]).toEqual([true, '']);

    const server = await podWith(b, 'web', HTTPD('hello-from-web', 8080));
    const client = await podWith(b, 'client', 'exec sleep 300');
    const ip = (await b.cri.runtime.PodSandboxStatus({ podSandboxId: server.pod })).status!.network!.ip!;
    const clientIp = (await b.cri.runtime.PodSandboxStatus({ podSandboxId: client.pod })).status!.network!.ip!;
    const prefix = b.net.env.subnet.replace(/0\/24$/, '');
    expect(ip.startsWith(prefix) && clientIp.startsWith(prefix) && ip !== clientIp).toBe(true);

    // the pod sees lo + eth0 only, eth0 holding its IP
    expect(ifaces((await exec(b, client.containerId, 'cat /proc/net/dev')).out)).toEqual(['eth0', 'lo']);
    expect((await exec(b, client.containerId, 'ip -4 -o addr show eth0')).out).toContain(`inet ${clientIp}/24`);

    let last = '';
    const got = await until(async () => {
      // Debian's busybox-static wget segfaults in the pod (exit 139): speak HTTP/1.0 through nc
      const r = await exec(b, client.containerId, `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 8080`);
      last = `${r.code}: ${r.out}`;
      return r.code === 0 && r.out.startsWith('HTTP/1.1 200') ? r.out.split('\r\n\r\n')[1] : undefined;
    }, 'the web pod to answer the client pod').catch((e: unknown) => {
      throw new Error(`${String(e)}; last reply: ${last}`);
    });
    expect(got.trim()).toBe('hello-from-web');

    for (const p of [server.pod, client.pod]) await removePod(b, p);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 90_000);

  it('a hostPort mapping answers on 127.0.0.1:<hostPort>; removing the pod removes its rule', async () => {
    const b = berth();
    const hostPort = randomInt(20_000, 40_000);
    const { pod } = await podWith(b, 'mapped', HTTPD('hello-via-hostport', 80), {
      portMappings: [{ protocol: v1.Protocol.TCP, containerPort: 80, hostPort }],
    });
    expect((await fetchText(`http://127.0.0.1:${hostPort}/index.html`)).trim()).toBe('hello-via-hostport');
    const rules = async () => (await sh('iptables', ['-t', 'nat', '-S'])).split('\n').filter((l) => l.includes(`--dport ${hostPort}`));
    expect((await rules()).length).toBeGreaterThan(0);

    await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
    expect(await rules()).toEqual([]);
    expect(await unreachable(`http://127.0.0.1:${hostPort}/index.html`)).toBe(true);
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 90_000);

  it('a RunPodSandbox failing after CNI ADD (at the spec step) DELs the network: no netns, veth, IP or rule left', async () => {
    const b = berth();
    const config = podConfig(b, 'late-fail', {
      portMappings: [{ containerPort: 80, hostPort: randomInt(20_000, 40_000) }], linux: { sysctls: { 'kernel.no_such_sysctl': '1' } },
    });
    const err = await b.cri.runtime.RunPodSandbox({ config }).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect((await b.cri.runtime.ListPodSandbox({})).items).toEqual([]);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it('a hostNetwork pod has no pod IP and sees the host interfaces', async () => {
    const b = berth();
    const { pod, containerId } = await podWith(b, 'hostnet', 'exec sleep 300', HOST_NETWORK);
    const status = (await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!;
    expect(status.network?.ip ?? '').toBe('');
    // the host's own network namespace (interface lists race with other suites' veths)
    expect((await exec(b, containerId, 'readlink /proc/self/ns/net')).out.trim()).toBe(readlinkSync('/proc/self/ns/net'));
    expect(ifaces((await exec(b, containerId, 'cat /proc/net/dev')).out)).toContain('lo');
    await removePod(b, pod);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it("a pod's /etc/hosts, /etc/resolv.conf and hostname follow its config", async () => {
    const b = berth();
    const dnsConfig = { servers: ['10.96.0.10', '10.96.0.11'], searches: ['ns1.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] };
    const withDns = await podWith(b, 'dns', 'exec sleep 300', { dnsConfig, hostname: 'dns-host' });
    expect((await exec(b, withDns.containerId, 'cat /etc/resolv.conf')).out).toBe(
      'search ns1.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5\n',
    );
    expect((await exec(b, withDns.containerId, 'hostname')).out.trim()).toBe('dns-host');
    // no dnsConfig: the host's resolv.conf; /etc/hosts is the host's in both (containerd copies it)
    const plain = await podWith(b, 'plain', 'exec sleep 300');
    expect((await exec(b, plain.containerId, 'cat /etc/resolv.conf')).out).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
    for (const c of [withDns.containerId, plain.containerId]) {
      expect((await exec(b, c, 'cat /etc/hosts')).out).toBe(readFileSync('/etc/hosts', 'utf8'));
    }
    for (const p of [withDns.pod, plain.pod]) await removePod(b, p);
  }, 60_000);
});

describe('CRI without any CNI config', () => {
  const berth = useBerth({ cniConfig: false });

  it('Status says NetworkReady false with a reason; a POD-network pod fails FailedPrecondition, a host-network pod runs', async () => {
    const b = berth();
    const cond = (await b.cri.runtime.Status({})).status!.conditions!.find((c) => c.type === 'NetworkReady')!;
    expect([cond.status, cond.reason]).toEqual([false, 'NetworkPluginNotReady']);
    expect(cond.message).toContain(`no network config found in ${b.net.env.confDir}`);

    const err = await b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'nonet') }).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, 'failed-precondition')).toBe(true);
    expect((err as Error).message).toContain('cni plugin not initialized');
    expect((await b.cri.runtime.ListPodSandbox({})).items).toEqual([]);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);

    const { pod } = await podWith(b, 'hostnet-ok', 'exec sleep 300', HOST_NETWORK);
    expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
    await removePod(b, pod);
  }, 60_000);
});
