// The plugin contract, seen from the plugin's side: recording fake plugins log their env and
// stdin, so the test checks CNI_* variables, name/cniVersion injection, the prevResult chain,
// runtimeConfig holding only declared capabilities, the loopback network, DEL order and the
// cached prevResult on DEL. Uses a real pinned netns (root), no real plugin.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNetns, isNetns, listNetns, removeNetns } from './netns.js';
import { PodNetworking } from './pod-network.js';

let root: string;
let bin: string;
let conf: string;
let state: string;
let log: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-cnicontract-'));
  bin = join(root, 'bin');
  conf = join(root, 'conf');
  state = join(root, 'state');
  log = join(root, 'calls.jsonl');
  await mkdir(bin);
  await mkdir(conf);
  // every fake plugin appends {type, env, stdin} and answers ADD with prevResult plus an IP
  for (const type of ['fakeone', 'faketwo', 'loopback']) {
    await writeFile(
      join(bin, type),
      `#!${process.execPath}
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
  const conf = JSON.parse(input);
  require('fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ type: ${JSON.stringify(type)}, env, conf }) + '\\n');
  if (env.CNI_COMMAND !== 'ADD') return;
  const prev = conf.prevResult || { cniVersion: conf.cniVersion, interfaces: [], ips: [], dns: {} };
  if (${JSON.stringify(type)} === 'fakeone') {
    prev.interfaces = [{ name: env.CNI_IFNAME, mac: '02:00:00:00:00:01', sandbox: env.CNI_NETNS }];
    prev.ips = [{ interface: 0, address: '10.77.0.9/24', gateway: '10.77.0.1' }, { interface: 0, address: 'fd77::9/64' }];
  }
  process.stdout.write(JSON.stringify(prev));
});
`,
      { mode: 0o755 },
    );
  }
  await writeFile(
    join(conf, '10-fake.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'fakenet',
      plugins: [
        { type: 'fakeone', name: 'ignored', capabilities: { portMappings: true, bandwidth: false } },
        { type: 'faketwo', runtimeConfig: { stale: true } },
      ],
    }),
  );
});

afterEach(async () => {
  for (const n of await listNetns(state)) await removeNetns(n.path);
  await rm(root, { recursive: true, force: true });
});

async function calls(): Promise<{ type: string; env: Record<string, string>; conf: Record<string, unknown> }[]> {
  return (await readFile(log, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

describe('CNI plugin contract', () => {
  it('ADD chains prevResult, injects name/version/capabilities; DEL runs reversed with the cached result', async () => {
    const ns = await createNetns(state, 'sb1');
    const net = new PodNetworking({ binDir: bin, confDir: conf, stateDir: state });
    const r = await net.setupPodNetwork({
      id: 'sb1',
      name: 'web',
      namespace: 'prod',
      uid: 'uid-1',
      netnsPath: ns,
      portMappings: [{ containerPort: 80, hostPort: 8080, protocol: 0 }],
      bandwidth: { egressRate: 1000 },
    });
    expect(r).toMatchObject({ ip: '10.77.0.9', additionalIps: ['fd77::9'] });

    const adds = await calls();
    // The loopback network attaches beside the eth0 list (docs/network.md): the two lists' calls
    // interleave in any order, each list's chain keeps its own.
    expect(adds.map((c) => `${c.type}:${c.env.CNI_IFNAME}`).sort()).toEqual(['fakeone:eth0', 'faketwo:eth0', 'loopback:lo']);
    const lo = adds.find((c) => c.env.CNI_IFNAME === 'lo');
    const [one, two] = adds.filter((c) => c.env.CNI_IFNAME === 'eth0');
    expect([one?.type, two?.type]).toEqual(['fakeone', 'faketwo']);
    expect(lo?.conf).toEqual({ cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback' });
    expect(one?.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'sb1',
      CNI_NETNS: ns,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1',
      CNI_PATH: bin,
    });
    expect(one?.conf.name).toBe('fakenet');
    expect(one?.conf.prevResult).toBeUndefined();
    expect(one?.conf.runtimeConfig).toEqual({ portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] });
    expect(two?.conf.prevResult).toMatchObject({ ips: [{ address: '10.77.0.9/24' }, { address: 'fd77::9/64' }] });
    expect(two?.conf).not.toHaveProperty('runtimeConfig');

    await writeFile(log, '');
    await net.teardownPodNetwork({ id: 'sb1' });
    const dels = await calls();
    expect(dels.map((c) => `${c.env.CNI_COMMAND} ${c.type}`)).toEqual(['DEL loopback', 'DEL faketwo', 'DEL fakeone']);
    expect(dels[0]?.conf).not.toHaveProperty('prevResult'); // 0.3.1 gets none
    expect(dels[1]?.conf.prevResult).toMatchObject({ ips: [{ address: '10.77.0.9/24' }, { address: 'fd77::9/64' }] });
    expect(dels[2]?.env.CNI_NETNS).toBe(ns);
    expect(isNetns(ns)).toBe(false);

    // a second teardown: DEL again with an empty CNI_NETNS and no prevResult, still succeeds
    await writeFile(log, '');
    await net.teardownPodNetwork({ id: 'sb1' });
    const again = await calls();
    expect(again.every((c) => c.env.CNI_NETNS === '' && c.conf.prevResult === undefined)).toBe(true);
  });

  it('CHECK runs in order with the cached result; IPs come back from the cache', async () => {
    const ns = await createNetns(state, 'sb2');
    const net = new PodNetworking({ binDir: bin, confDir: conf, stateDir: state, ipPref: 'ipv6' });
    await net.setupPodNetwork({ id: 'sb2', name: 'a', namespace: 'b', uid: 'c', netnsPath: ns });
    await writeFile(log, '');
    await net.checkPodNetwork('sb2');
    const checks = await calls();
    expect(checks.map((c) => `${c.env.CNI_COMMAND} ${c.type}`)).toEqual(['CHECK fakeone', 'CHECK faketwo']); // loopback 0.3.1: skipped
    expect(checks[0]?.conf.prevResult).toMatchObject({ ips: [{ address: '10.77.0.9/24' }, { address: 'fd77::9/64' }] });
    expect(await new PodNetworking({ binDir: bin, confDir: conf, stateDir: state, ipPref: 'ipv6' }).podNetworkInfo('sb2')).toMatchObject({
      ip: 'fd77::9',
      additionalIps: ['10.77.0.9'],
    });
    await net.teardownPodNetwork({ id: 'sb2' });
    await expect(net.checkPodNetwork('sb2')).rejects.toMatchObject({ kind: 'failed-precondition' });
  });

  it('a missing plugin binary is a clear not-found and nothing stays journalled', async () => {
    await writeFile(join(conf, '10-fake.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'nosuchplugin' }] }));
    const ns = await createNetns(state, 'sb3');
    const net = new PodNetworking({ binDir: bin, confDir: conf, stateDir: state });
    await expect(net.setupPodNetwork({ id: 'sb3', name: 'a', namespace: 'b', uid: 'c', netnsPath: ns })).rejects.toMatchObject({
      kind: 'not-found',
      message: `failed to find plugin "nosuchplugin" in path [${bin}]`,
    });
    expect(await readFile(join(state, 'cni-intents', 'sb3.json')).catch(() => 'gone')).toBe('gone');
  });
});
