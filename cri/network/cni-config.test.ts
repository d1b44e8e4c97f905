import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigLoader, loadNetworkConfigs } from './cni-config.js';
import { parseResult, podIps } from './cni-result.js';
import { versionAtLeast } from './cni-list.js';
import { defaultConflist, installDefaultCniConfig, DEFAULT_CONFLIST_NAME } from './default-conflist.js';
import { bandwidthFromAnnotations, capabilityArgs, cniArgs, parseQuantity } from './pod-args.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-cniconf-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const list = (name: string) => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] });

describe('loading network configs', () => {
  it('takes the first file in byte order, wraps a .conf, ignores other names and dirs', async () => {
    await writeFile(join(dir, '20-b.conflist'), list('b'));
    await writeFile(join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'a', type: 'bridge', bridge: 'x0' }));
    await writeFile(join(dir, '05-notes.txt'), 'not a config');
    await mkdir(join(dir, '01-dir.conflist'));
    const [first, ...rest] = await loadNetworkConfigs(dir, 1);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ name: 'a', cniVersion: '0.4.0', plugins: [{ type: 'bridge', bridge: 'x0' }] });
    expect(JSON.parse(first?.bytes.toString() ?? '')).toMatchObject({ name: 'a', plugins: [{ type: 'bridge' }] });
    expect((await loadNetworkConfigs(dir, 0)).map((l) => l.name)).toEqual(['a', 'b']);
  });

  it('no files: failed-precondition with the dir; a bad file fails the whole load', async () => {
    await expect(loadNetworkConfigs(join(dir, 'missing'), 1)).rejects.toMatchObject({
      kind: 'failed-precondition',
      message: `cni config load failed: no network config found in ${join(dir, 'missing')}: cni plugin not initialized`,
    });
    await writeFile(join(dir, '10-ok.conflist'), list('ok'));
    await writeFile(join(dir, '20-bad.conflist'), JSON.stringify({ name: 'bad', plugins: [] }));
    await expect(loadNetworkConfigs(dir, 0)).rejects.toMatchObject({ kind: 'invalid-argument', message: expect.stringContaining('20-bad.conflist: no "plugins"') });
    await writeFile(join(dir, '20-bad.conflist'), JSON.stringify({ name: 'bad', plugins: [{ type: '../../bin/sh' }] }));
    await expect(loadNetworkConfigs(dir, 0)).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('the loader re-reads only when a file changed', async () => {
    const loader = new ConfigLoader(dir, 1);
    await expect(loader.load()).rejects.toMatchObject({ kind: 'failed-precondition' });
    await writeFile(join(dir, '10-a.conflist'), list('one'));
    expect((await loader.load())[0]?.name).toBe('one');
    const again = await loader.load();
    expect(again).toBe(await loader.load()); // cached: same array
    await writeFile(join(dir, '10-a.conflist'), list('second-name'));
    expect((await loader.load())[0]?.name).toBe('second-name');
  });
});

describe('results', () => {
  const r100 = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni0', mac: 'aa' }, { name: 'veth1', mac: 'bb' }, { name: 'eth0', mac: 'cc', sandbox: '/ns' }],
    ips: [
      { interface: 2, address: 'fd00::2/64' },
      { interface: 2, address: '10.1.0.2/24', gateway: '10.1.0.1' },
      { interface: 0, address: '10.1.0.1/24' },
    ],
    dns: {},
  };
  it('takes eth0 addresses only, IPv4 first unless asked otherwise', () => {
    const parsed = parseResult(r100, 'eth0');
    expect(parsed.ips[1]).toEqual({ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 'eth0' });
    expect(podIps(parsed, 'eth0')).toEqual(['10.1.0.2', 'fd00::2']);
    expect(podIps(parsed, 'eth0', 'ipv6')).toEqual(['fd00::2', '10.1.0.2']);
    expect(podIps(parsed, 'eth0', 'cni')).toEqual(['fd00::2', '10.1.0.2']);
  });
  it('reads 0.4.0 (version field, no index) and 0.2.0 (ip4/ip6)', () => {
    const r040 = { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.2.0.5/16' }], dns: {} };
    expect(podIps(parseResult(r040, 'eth0'), 'eth0')).toEqual(['10.2.0.5']);
    const r020 = { cniVersion: '0.2.0', ip4: { ip: '10.3.0.7/24', gateway: '10.3.0.1' } };
    expect(podIps(parseResult(r020, 'eth0'), 'eth0')).toEqual(['10.3.0.7']);
    expect(() => parseResult('nonsense', 'eth0')).toThrow(/no result object/);
  });
  it('compares versions', () => {
    expect(versionAtLeast('1.0.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('0.3.1', '0.4.0')).toBe(false);
    expect(versionAtLeast('', '0.4.0')).toBe(false);
  });
});

describe('pod args', () => {
  const base = { id: 'sb1', name: 'web', namespace: 'default', uid: 'u1', netnsPath: '/run/ns' };
  it('CNI_ARGS and capability args as containerd sends them', () => {
    expect(cniArgs(base)).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web'],
      ['K8S_POD_INFRA_CONTAINER_ID', 'sb1'],
      ['K8S_POD_UID', 'u1'],
    ]);
    const caps = capabilityArgs({
      ...base,
      portMappings: [
        { protocol: 1, containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' },
        { protocol: 'TCP', containerPort: 80, hostPort: 0 },
      ],
      bandwidth: { ingressRate: 10_000_000 },
      annotations: { a: 'b' },
    });
    expect(caps).toEqual({
      'io.kubernetes.cri.pod-annotations': { a: 'b' },
      portMappings: [{ HostPort: 5353, ContainerPort: 53, Protocol: 'udp', HostIP: '127.0.0.1' }],
      bandwidth: { IngressRate: 10_000_000, IngressBurst: 4294967295, EgressRate: 0, EgressBurst: 0 },
    });
  });
  it('bandwidth annotations are Kubernetes quantities', () => {
    expect(parseQuantity('10M')).toBe(10_000_000);
    expect(parseQuantity('1Mi')).toBe(1_048_576);
    expect(bandwidthFromAnnotations({ 'kubernetes.io/egress-bandwidth': '500k' })).toEqual({ egressRate: 500_000 });
    expect(bandwidthFromAnnotations({})).toBeUndefined();
    expect(() => parseQuantity('ten')).toThrow(/not valid/);
  });
});

describe('default conflist', () => {
  it('matches the file shipped in deploy/cni and installs only into an empty conf dir', async () => {
    const shipped = await readFile(new URL(`../../deploy/cni/${DEFAULT_CONFLIST_NAME}`, import.meta.url), 'utf8');
    expect(shipped).toBe(defaultConflist());
    const conf = join(dir, 'net.d');
    expect(await installDefaultCniConfig(conf)).toBe(join(conf, DEFAULT_CONFLIST_NAME));
    const loaded = await loadNetworkConfigs(conf, 1);
    expect(loaded[0]?.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'loopback']);
    expect(await installDefaultCniConfig(conf)).toBeUndefined();
  });
});
