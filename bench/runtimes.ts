// containerd and berth set up the same way: one containerd-format config.toml (CRI plugin keys)
// with the same sandbox image, CNI dirs, registry hosts and runc options, each with its own root,
// state and sockets under the run's temp dir.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleBerthDaemon, bundleBerthShim } from './build.js';
import { Daemon } from './daemon.js';
import { CNI_BIN_DIR } from './network.js';

export interface SharedSetup {
  /** The run's temp dir. */
  dir: string;
  cniConfDir: string;
  registryHost: string;
  pauseImage: string;
}

const CRI = 'plugins."io.containerd.grpc.v1.cri"';

function configToml(o: { root: string; state: string; socket: string; runcRoot: string; shared: SharedSetup; certsDir: string }): string {
  return [
    'version = 2',
    `root = "${o.root}"`,
    `state = "${o.state}"`,
    '[grpc]',
    `  address = "${o.socket}"`,
    '[ttrpc]',
    `  address = "${o.socket}.ttrpc"`,
    '[debug]',
    `  address = "${o.socket}.debug"`,
    '  level = "warn"',
    `[${CRI}]`,
    `  sandbox_image = "${o.shared.pauseImage}"`,
    // This machine refuses to lower oom_score_adj (the pause spec asks for -998): keep it >= the daemon's.
    '  restrict_oom_score_adj = true',
    `[${CRI}.containerd]`,
    '  default_runtime_name = "runc"',
    `[${CRI}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${CRI}.containerd.runtimes.runc.options]`,
    `  Root = "${o.runcRoot}"`,
    `[${CRI}.containerd.runtimes.berth]`,
    '  runtime_type = "io.containerd.berth.v2"',
    `[${CRI}.containerd.runtimes.berth.options]`,
    `  Root = "${o.runcRoot}"`,
    `[${CRI}.cni]`,
    `  bin_dir = "${CNI_BIN_DIR}"`,
    `  conf_dir = "${o.shared.cniConfDir}"`,
    `[${CRI}.registry]`,
    `  config_path = "${o.certsDir}"`,
    '',
  ].join('\n');
}

/** hosts.toml that sends pulls for the local registry over plain http. */
async function writeHosts(certsDir: string, registryHost: string): Promise<void> {
  const body = `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`;
  for (const name of [registryHost, registryHost.replace(/:(\d+)$/, '_$1_')]) {
    await mkdir(path.join(certsDir, name), { recursive: true });
    await writeFile(path.join(certsDir, name, 'hosts.toml'), body);
  }
}

async function layout(shared: SharedSetup, name: string) {
  const dir = path.join(shared.dir, name);
  const o = {
    root: path.join(dir, 'root'), state: path.join(dir, 'state'), socket: path.join(dir, `${name}.sock`),
    runcRoot: path.join(dir, 'runc'), certsDir: path.join(dir, 'certs.d'), shared,
  };
  await mkdir(dir, { recursive: true });
  await writeHosts(o.certsDir, shared.registryHost);
  const config = path.join(dir, 'config.toml');
  await writeFile(config, configToml(o));
  return { dir, config, ...o };
}

function cleanEnv(extraPath?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS; // shims inherit it and pay ~57 ms per start
  if (extraPath) env.PATH = `${extraPath}:${env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  return env;
}

export async function containerdDaemon(shared: SharedSetup): Promise<Daemon> {
  const l = await layout(shared, 'containerd');
  return new Daemon({
    name: 'containerd', dir: l.dir, socket: l.socket, handler: 'runc', runcRoot: path.join(l.runcRoot, 'k8s.io'),
    command: 'containerd', args: ['--config', l.config], env: cleanEnv(),
  });
}

const nodeArgs = (): string[] => process.env.BENCH_BERTH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

/** berth from source (cli/berth.ts bundled as the install bundles it, cli/bundle.ts). */
export async function berthDaemon(shared: SharedSetup, handler: 'runc' | 'berth'): Promise<Daemon> {
  const script = await bundleBerthDaemon();
  const shim = await bundleBerthShim().catch(() => undefined);
  const l = await layout(shared, 'berth');
  return new Daemon({
    name: 'berth', dir: l.dir, socket: l.socket, handler, runcRoot: path.join(l.runcRoot, 'k8s.io'),
    command: process.execPath,
    // BENCH_BERTH_NODE_ARGS: node flags for berth's daemon only (`--cpu-prof --cpu-prof-dir=DIR`
    // profiles it and its worker threads; NODE_OPTIONS refuses --cpu-prof).
    // BENCH_BERTH_LOG=<file>: berth's log at info level appended there (its 'berth ready' line
    // has the start's phases, docs/cri.md "Start-up order").
    args: [...nodeArgs(), script, '--config', l.config, '--address', l.socket, '--root', l.root, '--state', l.state, '--log-level', process.env.BENCH_BERTH_LOG ? 'info' : 'warn'],
    env: cleanEnv(shim?.binDir),
    ...(process.env.BENCH_BERTH_LOG ? { stdoutFile: process.env.BENCH_BERTH_LOG } : {}),
  });
}
