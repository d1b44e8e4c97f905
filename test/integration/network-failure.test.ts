// Failure paths with the real bridge/host-local/portmap plugins: no config, a broken config, a
// failing or hanging plugin after bridge already did its work, bad input. Each error is typed and
// carries the plugin's message, and nothing is left: no veth, IP allocation, nat rule or cache.
// Last, how a pod's networks are attached: all at once, as go-cni's Setup does for containerd
// (the built-in loopback network beside the conf dir's list on eth0), every list settled before
// a failure is undone; `loopback` is wrapped to take 600 ms and stamp when it starts and ends, a
// fake chained plugin stamps when the eth0 list reaches it.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniPluginError, createNetns, netnsPath, removeNetns } from '../../cri/network/index.js';
import { leftovers, makeNetEnv, NOTHING_LEFT, sh, writeFakePlugin, writeSlowLoopback, type NetEnv } from './network-harness.js';

let env: NetEnv;
beforeEach(async () => {
  env = await makeNetEnv();
});
afterEach(async () => {
  await env.cleanup();
});

const pod = (id: string) => ({ id, name: `p-${id}`, namespace: 'ns1', uid: `u-${id}`, netnsPath: netnsPath(env.stateDir, id) });

/** Nothing of the pod's network is left; only the netns the caller made (and still owns). */
async function expectNothingLeft(): Promise<void> {
  expect(await leftovers(env)).toEqual({ ...NOTHING_LEFT, netns: 1 });
  expect(await readdir(join(env.stateDir, 'cni-cache', 'results')).catch(() => [])).toEqual([]);
  expect(await readdir(join(env.stateDir, 'cni-intents')).catch(() => [])).toEqual([]);
}

describe('network failures leave nothing behind', () => {
  it('no config: not ready with NetworkPluginNotReady, setup refused as failed-precondition', async () => {
    const net = env.networking();
    const status = await net.networkStatus();
    expect(status).toEqual({
      ready: false,
      reason: 'NetworkPluginNotReady',
      message: `cni config load failed: no network config found in ${env.confDir}: cni plugin not initialized`,
    });
    await createNetns(env.stateDir, 'nocfg');
    await expect(net.setupPodNetwork(pod('nocfg'))).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expectNothingLeft();

    // a config appearing later is picked up without a restart
    await env.writeConflist();
    expect((await net.networkStatus()).ready).toBe(true);
  });

  it('a broken config file fails the load with invalid-argument naming the file', async () => {
    await writeFile(join(env.confDir, '05-broken.conflist'), '{"name": "x", "plugins": [');
    await env.writeConflist();
    const net = env.networking();
    const status = await net.networkStatus();
    expect(status.ready).toBe(false);
    expect(status.message).toContain('invalid cni config');
    expect(status.message).toContain('05-broken.conflist');
    await createNetns(env.stateDir, 'broken');
    await expect(net.setupPodNetwork(pod('broken'))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expectNothingLeft();
  });

  it('a plugin failing after bridge: the plugin message comes back and bridge is undone', async () => {
    await writeFakePlugin(env, 'berthfail', { failOn: ['ADD'], msg: 'boom: quota exceeded' });
    await env.writeConflist([{ type: 'portmap', capabilities: { portMappings: true } }, { type: 'berthfail' }]);
    await createNetns(env.stateDir, 'fail1');
    const err = await env
      .networking()
      .setupPodNetwork({ ...pod('fail1'), portMappings: [{ containerPort: 80, hostPort: 20_000 + Math.floor(Math.random() * 20_000) }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err).toMatchObject({ kind: 'internal', plugin: 'berthfail', cniCode: 999, msg: 'boom: quota exceeded', details: 'from berthfail' });
    expect((err as Error).message).toBe('plugin type="berthfail" failed (add): boom: quota exceeded; from berthfail');
    await expectNothingLeft();
  });

  it('the real bridge plugin failing reports its own message', async () => {
    await writeFile(
      join(env.confDir, '10-bad.conf'),
      JSON.stringify({ cniVersion: '1.0.0', name: env.network, type: 'bridge', bridge: env.bridge, ipam: { type: 'host-local', subnet: 'not-a-cidr', dataDir: env.dataDir } }),
    );
    await createNetns(env.stateDir, 'fail2');
    const err = await env.networking().setupPodNetwork(pod('fail2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err).toMatchObject({ plugin: 'bridge', command: 'ADD' });
    expect((err as CniPluginError).msg).toContain('not-a-cidr');
    await expectNothingLeft();
  });

  it('a hanging plugin hits the deadline (deadline-exceeded) and the chain is undone', async () => {
    await writeFakePlugin(env, 'berthhang', { hangOn: ['ADD'] });
    await env.writeConflist([{ type: 'berthhang' }]);
    await createNetns(env.stateDir, 'hang1');
    await expect(env.networking({ pluginTimeoutMs: 1000 }).setupPodNetwork(pod('hang1'))).rejects.toMatchObject({
      kind: 'deadline-exceeded',
      message: expect.stringContaining('berthhang'),
    });
    await expectNothingLeft();
  });

  it('bad input is refused before any plugin runs', async () => {
    await env.writeConflist();
    const net = env.networking();
    await expect(net.setupPodNetwork({ ...pod('ok1'), id: '../../etc' })).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(net.setupPodNetwork({ ...pod('ok2'), name: 'a;K8S_POD_UID=x' })).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(net.setupPodNetwork({ ...pod('ok3'), portMappings: [{ containerPort: 80, hostPort: 70_000 }] })).rejects.toMatchObject({
      kind: 'invalid-argument',
    });
    await expect(net.setupPodNetwork({ ...pod('ok4'), portMappings: [{ containerPort: 80, hostPort: 8080, protocol: 'icmp' }] })).rejects.toMatchObject({
      kind: 'invalid-argument',
    });
    // not a pinned netns
    await expect(net.setupPodNetwork(pod('nons'))).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expect(net.teardownPodNetwork({ id: 'a/b' })).rejects.toMatchObject({ kind: 'invalid-argument' });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });
});

/** `<plugin> <command> <start|end>` -> ms, from the stamp file. */
async function stamps(file: string): Promise<Map<string, number>> {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  return new Map(lines.map((l) => {
    const [plugin, cmd, what, ms] = l.split(' ');
    return [`${plugin} ${cmd} ${what}`, Number(ms)];
  }));
}

describe('a pod\'s networks are attached side by side', () => {
  it('runs the eth0 list while the loopback network is still being added, and both end up attached', async () => {
    const file = join(env.root, 'stamps');
    await writeSlowLoopback(env, file, 600);
    await writeFakePlugin(env, 'berthstamp', { stampFile: file });
    await env.writeConflist([{ type: 'berthstamp' }]);
    await createNetns(env.stateDir, 'side');
    const net = env.networking();
    const r = await net.setupPodNetwork(pod('side'));
    expect(r.ip).not.toBe('');
    const t = await stamps(file);
    // the last plugin of the eth0 list (after bridge) started before the slow loopback ADD ended
    expect(t.get('berthstamp ADD start')).toBeLessThan(t.get('loopback ADD end')!);
    expect(await sh('nsenter', [`--net=${netnsPath(env.stateDir, 'side')}`, 'ip', '-o', 'link', 'show', 'lo'])).toMatch(/UP/);
    expect(await sh('nsenter', [`--net=${netnsPath(env.stateDir, 'side')}`, 'ip', '-o', '-4', 'addr', 'show', 'eth0'])).toContain(r.ip);

    await net.teardownPodNetwork({ id: 'side' });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });

  it('a failing eth0 list is undone only once the loopback ADD beside it has settled, leaving nothing', async () => {
    const file = join(env.root, 'stamps');
    await writeSlowLoopback(env, file, 600);
    await writeFakePlugin(env, 'berthfail', { failOn: ['ADD'], msg: 'no room', stampFile: file });
    await env.writeConflist([{ type: 'berthfail' }]);
    await createNetns(env.stateDir, 'fails');
    await expect(env.networking().setupPodNetwork(pod('fails'))).rejects.toMatchObject({ plugin: 'berthfail', msg: 'no room' });
    const t = await stamps(file);
    expect(t.get('berthfail ADD start')).toBeLessThan(t.get('loopback ADD end')!);
    // the undo's DEL of loopback came after its ADD ended (no DEL racing its own ADD)
    expect(t.get('loopback DEL start')).toBeGreaterThanOrEqual(t.get('loopback ADD end')!);
    await expectNothingLeft();
    await removeNetns(netnsPath(env.stateDir, 'fails'));
  });
});
