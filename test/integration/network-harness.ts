// Shared setup for the network integration tests: a private conf dir with a conflist using a
// unique bridge (bt<hex>), a unique 10.213.x.0/24 subnet, host-local allocations in the test's
// own dataDir, and a cleanup that removes every netns, veth, bridge, iptables rule/chain and
// file the test made, whatever state the test left.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listNetns, PodNetworking, removeNetns, type PodNetworkingOptions } from '../../cri/network/index.js';

const run = promisify(execFile);
export const CNI_BIN = '/usr/lib/cni';

export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { timeout: 20_000 })).stdout;
}

export interface NetEnv {
  root: string;
  confDir: string;
  stateDir: string;
  dataDir: string;
  binDir: string;
  bridge: string;
  network: string;
  subnet: string;
  children: ChildProcess[];
  networking(opts?: Partial<PodNetworkingOptions>): PodNetworking;
  writeConflist(extraPlugins?: object[], file?: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeNetEnv(): Promise<NetEnv> {
  const hex = randomBytes(4).toString('hex');
  const root = await mkdtemp(join(tmpdir(), 'berth-net-'));
  const env: NetEnv = {
    root,
    confDir: join(root, 'conf'),
    stateDir: join(root, 'state'),
    dataDir: join(root, 'ipam'),
    binDir: join(root, 'bin'),
    bridge: `bt${hex}`,
    network: `bt-${hex}`,
    subnet: `10.213.${randomBytes(1)[0]}.0/24`,
    children: [],
    networking: (opts = {}) =>
      new PodNetworking({ binDir: [env.binDir, CNI_BIN], confDir: env.confDir, stateDir: env.stateDir, pluginTimeoutMs: 15_000, ...opts }),
    async writeConflist(extraPlugins = [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }], file = '10-test.conflist') {
      const list = {
        cniVersion: '1.0.0',
        name: env.network,
        plugins: [
          {
            type: 'bridge',
            bridge: env.bridge,
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: env.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: env.dataDir },
          },
          ...extraPlugins,
        ],
      };
      await writeFile(join(env.confDir, file), JSON.stringify(list));
    },
    async cleanup() {
      for (const c of env.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const n of await listNetns(env.stateDir)) await removeNetns(n.path);
      await sh('ip', ['link', 'del', env.bridge]).catch(() => undefined);
      await removeNatRules(env.network);
      await rm(root, { recursive: true, force: true });
    },
  };
  await mkdir(env.confDir, { recursive: true });
  await mkdir(env.binDir, { recursive: true });
  return env;
}

/** Deletes nat rules commented with our network name and the CNI chains they jump to. */
async function removeNatRules(network: string): Promise<void> {
  const rules = (await sh('iptables', ['-t', 'nat', '-S'])).split('\n').filter((l) => l.includes(network));
  const chains = new Set<string>();
  for (const rule of rules) {
    const m = /^-A (\S+) (.*)$/.exec(rule);
    if (!m) continue;
    const target = /-j (CNI-\S+)/.exec(rule)?.[1];
    if (target && target.startsWith('CNI-') && !target.startsWith('CNI-HOSTPORT')) chains.add(target);
    if (m[1]?.startsWith('CNI-') && !m[1].startsWith('CNI-HOSTPORT')) chains.add(m[1]);
    await run('sh', ['-c', `iptables -t nat -D ${m[1]} ${m[2]}`]).catch(() => undefined);
  }
  for (const c of chains) {
    await sh('iptables', ['-t', 'nat', '-F', c]).catch(() => undefined);
    await sh('iptables', ['-t', 'nat', '-X', c]).catch(() => undefined);
  }
}

/** What the tests count: pinned netns, veths on the bridge, allocated IPs, nat rules of the network. */
export async function leftovers(env: NetEnv): Promise<{ netns: number; veths: number; ips: number; natRules: number }> {
  const netns = (await listNetns(env.stateDir)).length;
  const veths = (await sh('ip', ['-o', 'link', 'show', 'master', env.bridge]).catch(() => '')).split('\n').filter((l) => l.trim()).length;
  const ipDir = join(env.dataDir, env.network);
  const ips = (await readdir(ipDir).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)).length;
  const natRules = (await sh('iptables', ['-t', 'nat', '-S'])).split('\n').filter((l) => l.includes(env.network)).length;
  return { netns, veths, ips, natRules };
}

export const NOTHING_LEFT = { netns: 0, veths: 0, ips: 0, natRules: 0 };

/** Starts busybox httpd in a netns serving `text` at /index.html on `port`. */
export async function startHttpd(env: NetEnv, netns: string, port: number, text: string): Promise<void> {
  const www = await mkdtemp(join(env.root, 'www-'));
  await writeFile(join(www, 'index.html'), text);
  const child = spawn('nsenter', [`--net=${netns}`, '/usr/bin/busybox', 'httpd', '-f', '-p', String(port), '-h', www], { stdio: 'ignore' });
  env.children.push(child);
}

/**
 * GET with curl (optionally from inside a netns), retried while the server starts. (Debian's
 * busybox-static `wget` segfaults here, even on an IP literal, so curl is the client.)
 */
export async function fetchText(url: string, netns?: string, attempts = 20): Promise<string> {
  const cmd = netns ? ['nsenter', `--net=${netns}`, 'curl'] : ['curl'];
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return (await run(cmd[0] as string, [...cmd.slice(1), '-sSf', '--max-time', '3', url], { timeout: 10_000 })).stdout;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw last;
}

/** Whether a connection to `url` fails (a single try, no retries). */
export async function unreachable(url: string, netns?: string): Promise<boolean> {
  return fetchText(url, netns, 1).then(
    () => false,
    () => true,
  );
}

/**
 * A fake CNI plugin (a node script) in the test's bin dir. On the commands in `failOn` it prints
 * a CNI error (code 999, msg, details) and exits 1; with `hangOn` it sleeps (in a grandchild);
 * with `crashParentOn` it SIGKILLs its parent (the daemon stand-in) while the file `marker`
 * exists. Otherwise ADD passes prevResult through (a chained plugin) and DEL/CHECK succeed.
 * With `stampFile` it appends `<type> <command> start <ms>` there as it starts.
 */
export async function writeFakePlugin(
  env: NetEnv,
  type: string,
  behaviour: { failOn?: string[]; hangOn?: string[]; crashParentOn?: string[]; marker?: string; msg?: string; delayMs?: number; stampFile?: string },
): Promise<void> {
  const script = `#!${process.execPath}
const cmd = process.env.CNI_COMMAND;
const b = ${JSON.stringify(behaviour)};
if (b.stampFile) require('fs').appendFileSync(b.stampFile, ${JSON.stringify(type)} + ' ' + cmd + ' start ' + Date.now() + '\\n');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => setTimeout(act, b.delayMs || 0));
function act() {
  const conf = JSON.parse(input || '{}');
  if ((b.crashParentOn || []).includes(cmd) && require('fs').existsSync(b.marker)) {
    process.kill(process.ppid, 'SIGKILL');
    setTimeout(() => process.exit(0), 2000);
    return;
  }
  if ((b.hangOn || []).includes(cmd)) {
    require('child_process').spawn('sleep', ['60'], { stdio: 'inherit' });
    return;
  }
  if ((b.failOn || []).includes(cmd)) {
    process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 999, msg: b.msg || 'fake failure', details: 'from ' + ${JSON.stringify(type)} }));
    process.exit(1);
  }
  if (cmd === 'ADD') process.stdout.write(JSON.stringify(conf.prevResult || { cniVersion: conf.cniVersion, interfaces: [], ips: [] }));
}
`;
  await writeFile(join(env.binDir, type), script, { mode: 0o755 });
}

/**
 * A `loopback` in the test's bin dir (found before the real one) that appends `loopback <command>
 * start|end <ms>` to `stampFile` around a `delayMs` wait and then runs the real plugin.
 */
export async function writeSlowLoopback(env: NetEnv, stampFile: string, delayMs: number): Promise<void> {
  const stamp = (what: string) => `echo "loopback $CNI_COMMAND ${what} $(($(date +%s%N) / 1000000))" >> '${stampFile}'`;
  const script = ['#!/bin/sh', stamp('start'), 'input=$(cat)', `sleep ${delayMs / 1000}`,
    `printf '%s' "$input" | ${join(CNI_BIN, 'loopback')}`, 'rc=$?', stamp('end'), 'exit $rc', ''].join('\n');
  await writeFile(join(env.binDir, 'loopback'), script, { mode: 0o755 });
}
