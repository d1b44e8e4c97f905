// Real CNI plugins (Debian containernetworking-plugins in /usr/lib/cni) on a private bridge:
// two pods talk by pod IP, a hostPort answers on 127.0.0.1 and disappears with the pod, and a
// fresh PodNetworking (a restarted daemon) tears down from the cached result.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { createNetns, installDefaultCniConfig, isNetns, netnsPath } from '../../cri/network/index.js';
import { fetchText, leftovers, makeNetEnv, NOTHING_LEFT, sh, startHttpd, unreachable, type NetEnv } from './network-harness.js';

let env: NetEnv;
beforeEach(async () => {
  env = await makeNetEnv();
  await env.writeConflist();
});
afterEach(async () => {
  await env.cleanup();
});

const pod = (id: string, extra: object = {}) => ({
  id,
  name: `web-${id}`,
  namespace: 'default',
  uid: `uid-${id}`,
  netnsPath: netnsPath(env.stateDir, id),
  ...extra,
});

describe('pod network with the real plugins', () => {
  it('creates a pinned netns with lo up, refuses a second one with the same id', async () => {
    const id = `ns${Date.now()}`;
    const path = await createNetns(env.stateDir, id);
    expect(path).toBe(join(env.stateDir, 'netns', id));
    expect(isNetns(path)).toBe(true);
    expect(await sh('nsenter', [`--net=${path}`, 'ip', '-o', 'link', 'show', 'lo'])).toMatch(/UP/);
    await expect(createNetns(env.stateDir, id)).rejects.toMatchObject({ kind: 'already-exists' });
    await expect(createNetns(env.stateDir, '../escape')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('two pods reach each other by pod IP; teardown leaves nothing', async () => {
    const net = env.networking();
    await createNetns(env.stateDir, 'poda');
    await createNetns(env.stateDir, 'podb');
    const a = await net.setupPodNetwork(pod('poda'));
    const b = await net.setupPodNetwork(pod('podb'));
    const prefix = env.subnet.split('.').slice(0, 3).join('.');
    expect(a.ip.startsWith(`${prefix}.`)).toBe(true);
    expect(b.ip.startsWith(`${prefix}.`)).toBe(true);
    expect(a.ip).not.toBe(b.ip);
    expect(a.additionalIps).toEqual([]);
    expect(a.interfaces.map((i) => i.name)).toEqual(expect.arrayContaining(['lo', env.bridge, 'eth0']));

    // inside the pod: eth0 has the IP, lo is up with 127.0.0.1
    const addrs = await sh('nsenter', [`--net=${netnsPath(env.stateDir, 'poda')}`, 'ip', '-o', '-4', 'addr']);
    expect(addrs).toContain(`eth0    inet ${a.ip}/24`);
    expect(addrs).toContain('lo    inet 127.0.0.1/8');

    // libcni-compatible cache + host-local allocation
    const cached = JSON.parse(await readFile(join(env.stateDir, 'cni-cache', 'results', `${env.network}-poda-eth0`), 'utf8'));
    expect(cached).toMatchObject({ kind: 'cniCacheV1', containerId: 'poda', ifName: 'eth0', networkName: env.network });
    expect(cached.cniArgs).toContainEqual(['K8S_POD_NAME', 'web-poda']);
    expect(await readFile(join(env.dataDir, env.network, a.ip), 'utf8')).toBe('poda\r\neth0');

    await startHttpd(env, netnsPath(env.stateDir, 'poda'), 8080, 'hello from a');
    expect(await fetchText(`http://${a.ip}:8080/index.html`, netnsPath(env.stateDir, 'podb'))).toBe('hello from a');

    await net.checkPodNetwork('podb');
    expect(await net.podNetworkInfo('podb')).toMatchObject({ ip: b.ip });
    expect(await leftovers(env)).toMatchObject({ netns: 2, veths: 2, ips: 2 });

    await net.teardownPodNetwork({ id: 'poda' });
    await net.teardownPodNetwork({ id: 'podb' });
    await net.teardownPodNetwork({ id: 'podb' }); // idempotent
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
    expect(await readdir(join(env.stateDir, 'cni-cache', 'results'))).toEqual([]);
  });

  it('a hostPort answers on 127.0.0.1 and its rules go with the pod', async () => {
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    const net = env.networking();
    await createNetns(env.stateDir, 'hp1');
    const r = await net.setupPodNetwork(pod('hp1', { portMappings: [{ protocol: 0, containerPort: 80, hostPort }] }));
    await startHttpd(env, netnsPath(env.stateDir, 'hp1'), 80, 'via hostport');
    expect(await fetchText(`http://127.0.0.1:${hostPort}/index.html`)).toBe('via hostport');

    const dnat = (await sh('iptables', ['-t', 'nat', '-S'])).split('\n').filter((l) => l.includes(`--dports ${hostPort} `));
    expect(dnat).toHaveLength(1);
    expect(dnat[0]).toMatch(/^-A CNI-HOSTPORT-DNAT /);
    expect(dnat[0]).toContain(env.network);
    expect(await sh('iptables', ['-t', 'nat', '-S'])).toContain(`--to-destination ${r.ip}:80`);

    await net.teardownPodNetwork({ id: 'hp1' });
    const after = await sh('iptables', ['-t', 'nat', '-S']);
    expect(after).not.toContain(env.network);
    expect(after).not.toContain(`--dports ${hostPort} `);
    expect(after).not.toContain(`${r.ip}:80`);
    expect(await unreachable(`http://127.0.0.1:${hostPort}/index.html`)).toBe(true);
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });

  it('a fresh instance (restarted daemon) runs DEL from the cache with the same runtime config', async () => {
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    await createNetns(env.stateDir, 'rs1');
    await env.networking().setupPodNetwork(pod('rs1', { portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort }] }));
    expect((await leftovers(env)).natRules).toBeGreaterThan(0);
    // a new module instance knows nothing in memory; even the conf dir changed meanwhile
    await env.writeConflist([], '10-test.conflist');
    await env.networking().teardownPodNetwork({ id: 'rs1' });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });

  it('the shipped default conflist (bridge + host-local + portmap + loopback) works with the real plugins', async () => {
    await rm(join(env.confDir, '10-test.conflist'));
    const written = await installDefaultCniConfig(env.confDir, { networkName: env.network, bridge: env.bridge, subnet: env.subnet, dataDir: env.dataDir });
    expect(written).toBe(join(env.confDir, '10-berth-bridge.conflist'));
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    const net = env.networking();
    await createNetns(env.stateDir, 'dflt');
    const r = await net.setupPodNetwork(pod('dflt', { portMappings: [{ containerPort: 80, hostPort }] }));
    await startHttpd(env, netnsPath(env.stateDir, 'dflt'), 80, 'default net');
    expect(await fetchText(`http://${r.ip}:80/index.html`)).toBe('default net');
    expect(await fetchText(`http://127.0.0.1:${hostPort}/index.html`)).toBe('default net');
    await net.teardownPodNetwork({ id: 'dflt' });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });
});
