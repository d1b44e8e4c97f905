// The pod network a test daemon runs: its own conf dir with one conflist (bridge `bt<hex>`,
// host-local in a private dataDir, portmap), and a /24 in 10.214.0.0/15 claimed exclusively
// across concurrently running test files, so two daemons never put one subnet on two bridges.
// cleanup() removes the bridge, nat rules, pinned netns and files, and releases the subnet.
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeNetEnv, sh, type NetEnv } from './network-harness.js';

const CLAIMS = '/tmp/berth-test-subnets';

/** A free 10.214-215.x.0/24: claimed by an exclusive file (stale claims of dead pids are taken over). */
async function claimSubnet(): Promise<{ subnet: string; release: () => Promise<void> }> {
  await mkdir(CLAIMS, { recursive: true });
  const inUse = await sh('ip', ['-4', '-o', 'addr', 'show']);
  const start = randomInt(512);
  for (let i = 0; i < 512; i++) {
    const n = (start + i) % 512;
    const prefix = `10.${214 + (n >> 8)}.${n & 255}.`;
    if (inUse.includes(` ${prefix}`)) continue;
    const file = join(CLAIMS, `${prefix}0`);
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
    } catch {
      const owner = Number(await readFile(file, 'utf8').catch(() => '0'));
      if (owner === 0 || existsSync(`/proc/${owner}`)) continue; // claimed by a live test process
      await writeFile(file, String(process.pid));
    }
    return { subnet: `${prefix}0/24`, release: () => rm(file, { force: true }) };
  }
  throw new Error('no free test subnet in 10.214.0.0/15');
}

export interface TestNetwork {
  readonly env: NetEnv;
  /** The `[cni]` lines of the daemon's config.toml. */
  readonly configLines: string[];
  cleanup(): Promise<void>;
}

/**
 * A network for the daemon with state dir `stateDir` (so leftovers(env) counts its netns). With
 * `withConfig: false` the conf dir stays empty (NetworkReady false, POD-network pods fail).
 */
export async function makeTestNetwork(stateDir: string, opts: { withConfig?: boolean } = {}): Promise<TestNetwork> {
  const env = await makeNetEnv();
  env.stateDir = stateDir;
  const claim = await claimSubnet();
  env.subnet = claim.subnet;
  if (opts.withConfig !== false) await env.writeConflist();
  return {
    env,
    configLines: ['[cni]', `bin_dir = "${env.binDir}:/usr/lib/cni"`, `conf_dir = "${env.confDir}"`],
    async cleanup() {
      try {
        await env.cleanup();
      } finally {
        await claim.release();
      }
    },
  };
}
