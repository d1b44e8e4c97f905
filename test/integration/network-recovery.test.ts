// Crash recovery with the real plugins: a daemon stand-in process is SIGKILLed by a plugin in the
// middle of setup (after bridge ADD) or teardown (before bridge DEL); a fresh PodNetworking's
// recoverNetworks() then finishes or undoes the work. Counts of netns, veths, allocated IPs and
// nat rules return to their baseline; sandboxes the daemon still runs are kept.
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNetns, netnsPath, type PodNetworkArgs } from '../../cri/network/index.js';
import { bundleEntry } from '../helpers/bundle.js';
import { CNI_BIN, leftovers, makeNetEnv, NOTHING_LEFT, writeFakePlugin, type NetEnv } from './network-harness.js';

let env: NetEnv;
let marker: string;
beforeEach(async () => {
  env = await makeNetEnv();
  marker = join(env.root, 'crash-now');
});
afterEach(async () => {
  await env.cleanup();
});

const pod = (id: string): PodNetworkArgs => ({
  id,
  name: `r-${id}`,
  namespace: 'ns',
  uid: `u-${id}`,
  netnsPath: netnsPath(env.stateDir, id),
  portMappings: [{ containerPort: 80, hostPort: 20_000 + Math.floor(Math.random() * 20_000) }],
});

/** Runs one call in a child process; resolves the signal that ended it (null = exited). */
async function inChild(op: 'setup' | 'teardown', args: PodNetworkArgs): Promise<NodeJS.Signals | null> {
  const entry = await bundleEntry('test/integration/network-child.ts');
  const job = { op, opts: { binDir: [env.binDir, CNI_BIN], confDir: env.confDir, stateDir: env.stateDir }, args };
  const child = spawn(process.execPath, [entry, JSON.stringify(job)], { stdio: 'ignore' });
  env.children.push(child);
  return new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
}

describe('recoverNetworks after a daemon crash', () => {
  it('a setup killed after bridge ADD is undone', async () => {
    await writeFakePlugin(env, 'berthcrash', { crashParentOn: ['ADD'], marker });
    await env.writeConflist([{ type: 'portmap', capabilities: { portMappings: true }, snat: true }, { type: 'berthcrash' }]);
    await writeFile(marker, '');
    await createNetns(env.stateDir, 'crashadd');
    expect(await inChild('setup', pod('crashadd'))).toBe('SIGKILL');

    // the crash left a netns, a veth, an IP, the masquerade and hostport rules
    const left = await leftovers(env);
    expect(left).toMatchObject({ netns: 1, veths: 1, ips: 1 });
    expect(left.natRules).toBeGreaterThan(0);

    await rm(marker);
    const report = await env.networking().recoverNetworks([]);
    expect(report).toEqual({ kept: [], tornDown: ['crashadd'], failed: [] });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });

  it('a teardown killed before bridge DEL is finished, even for a sandbox the daemon still knows', async () => {
    await writeFakePlugin(env, 'berthcrash', { crashParentOn: ['DEL'], marker });
    await env.writeConflist([{ type: 'portmap', capabilities: { portMappings: true }, snat: true }, { type: 'berthcrash' }]);
    await createNetns(env.stateDir, 'crashdel');
    await env.networking().setupPodNetwork(pod('crashdel'));
    await writeFile(marker, '');
    expect(await inChild('teardown', pod('crashdel'))).toBe('SIGKILL');
    expect(await leftovers(env)).toMatchObject({ netns: 1, veths: 1, ips: 1 });

    await rm(marker);
    // the conf dir changing meanwhile does not matter: the journalled configs are used
    await rm(join(env.confDir, '10-test.conflist'));
    const report = await env.networking().recoverNetworks(['crashdel']);
    expect(report).toEqual({ kept: [], tornDown: ['crashdel'], failed: [] });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });

  it('keeps running sandboxes, removes unknown ones and stray netns files', async () => {
    await env.writeConflist();
    const net = env.networking();
    for (const id of ['keep1', 'gone1']) {
      await createNetns(env.stateDir, id);
      await net.setupPodNetwork(pod(id));
    }
    await createNetns(env.stateDir, 'stray1'); // netns made, daemon died before any CNI call
    expect(await leftovers(env)).toMatchObject({ netns: 3, veths: 2, ips: 2 });

    const report = await env.networking().recoverNetworks(['keep1']);
    expect(report).toEqual({ kept: ['keep1'], tornDown: ['gone1', 'stray1'], failed: [] });
    expect(await leftovers(env)).toMatchObject({ netns: 1, veths: 1, ips: 1 });
    expect(await env.networking().podNetworkInfo('keep1')).toMatchObject({ ip: expect.stringMatching(/^10\.213\./) });

    await net.teardownPodNetwork({ id: 'keep1' });
    expect(await leftovers(env)).toEqual(NOTHING_LEFT);
  });
});
