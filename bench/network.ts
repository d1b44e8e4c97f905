// The one CNI network both runtimes get: a bridge with a bench-only name and a private subnet,
// host-local IPAM, plugins from /usr/lib/cni. Also the cleanup of what a run may leave behind
// (bridge, host-local leases, iptables chains), and a bare CNI ADD for the floor figure.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun, runCmd } from './proc.js';

export const CNI_BIN_DIR = '/usr/lib/cni';

export interface BenchNetwork {
  name: string;
  bridge: string;
  subnet: string;
  conflist: Record<string, unknown>;
}

/** A unique network per run: bridge `bb<id>` and a 10.<x>.0.0/16 subnet chosen from the id. */
export function benchNetwork(runId: string): BenchNetwork {
  const name = `berth-bench-${runId}`;
  const bridge = `bb${runId}`.slice(0, 15);
  const octet = 100 + (parseInt(runId.replace(/[^0-9a-z]/g, '').slice(0, 4), 36) % 100);
  const subnet = `10.${octet}.0.0/16`;
  const conflist = {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge', bridge, isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return { name, bridge, subnet, conflist };
}

/** Writes `<dir>/10-bench.conflist` and returns the dir. */
export async function writeCniConfDir(dir: string, net: BenchNetwork): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '10-bench.conflist'), JSON.stringify(net.conflist, null, 2));
  return dir;
}

/** Removes the bridge, the host-local leases and any masquerade chain still naming this network. */
export async function cleanupNetwork(net: BenchNetwork): Promise<void> {
  await runCmd('ip', ['link', 'del', net.bridge]);
  await rm(path.join('/var/lib/cni/networks', net.name), { recursive: true, force: true });
  // `-L --line-numbers` prints the comment verbatim; delete bottom-up so numbers stay valid.
  const listed = await runCmd('iptables', ['-t', 'nat', '-L', 'POSTROUTING', '-n', '--line-numbers']);
  const hits = listed.stdout.split('\n').filter((l) => l.includes(`name: "${net.name}"`)).reverse();
  for (const line of hits) {
    const [num, target] = line.trim().split(/\s+/);
    await runCmd('iptables', ['-t', 'nat', '-D', 'POSTROUTING', String(num)]);
    if (target?.startsWith('CNI-')) {
      await runCmd('iptables', ['-t', 'nat', '-F', target]);
      await runCmd('iptables', ['-t', 'nat', '-X', target]);
    }
  }
}

function pluginEnv(command: 'ADD' | 'DEL', id: string, netnsPath: string, ifname: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netnsPath,
    CNI_IFNAME: ifname, CNI_PATH: CNI_BIN_DIR, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${id}`,
  };
}

/** One plugin list (loopback, then the bench conflist) run as libcni would: ADD, with prevResult chained. */
async function runList(command: 'ADD' | 'DEL', net: BenchNetwork, id: string, netnsPath: string): Promise<void> {
  const lo = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };
  const bench = net.conflist.plugins as Record<string, unknown>[];
  const steps: { conf: Record<string, unknown>; ifname: string }[] = [
    { conf: lo, ifname: 'lo' },
    ...bench.map((p) => ({ conf: { ...p, cniVersion: '1.0.0', name: net.name }, ifname: 'eth0' })),
  ];
  if (command === 'DEL') steps.reverse();
  let prev: unknown;
  for (const s of steps) {
    const conf: Record<string, unknown> = { ...s.conf };
    if (s.conf.type === 'portmap') conf.runtimeConfig = { portMappings: [] };
    if (prev !== undefined && s.ifname === 'eth0' && command === 'ADD') conf.prevResult = prev;
    const out = await mustRun(path.join(CNI_BIN_DIR, String(s.conf.type)), [], {
      env: pluginEnv(command, id, netnsPath, s.ifname), input: JSON.stringify(conf), timeoutMs: 30_000,
    });
    if (command === 'ADD' && s.ifname === 'eth0' && out.trim() !== '') prev = JSON.parse(out);
  }
}

/** Floor: netns create + CNI ADD (loopback + bridge + portmap); returns ms for the ADD part and tears it down. */
export async function cniAddAlone(net: BenchNetwork, id: string): Promise<{ netnsMs: number; addMs: number }> {
  const ns = `bench-${id}`;
  const nsPath = `/var/run/netns/${ns}`;
  const t0 = performance.now();
  await mustRun('ip', ['netns', 'add', ns]);
  const t1 = performance.now();
  try {
    await runList('ADD', net, id, nsPath);
    const t2 = performance.now();
    await runList('DEL', net, id, nsPath);
    return { netnsMs: t1 - t0, addMs: t2 - t1 };
  } finally {
    await runCmd('ip', ['netns', 'del', ns]);
  }
}
