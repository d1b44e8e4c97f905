// The daemon's command line, apart from cli/berth.ts so that test/docs.test.ts can read the flags
// docs/cri.md names without starting a daemon.
import { Command } from 'commander';

export const DEFAULT_CONFIG_FILE = '/etc/berth/config.toml';

export interface DaemonFlags { config?: string; address?: string; root?: string; state?: string; logLevel?: string }

/** `berth [--config file] [--address sock] [--root dir] [--state dir] [--log-level level]`. */
export function daemonCommand(): Command {
  return new Command('berth')
    .description('berth: a containerd-compatible Kubernetes CRI runtime')
    .option('--config <file>', `config file (berth or containerd 1.6 format; default ${DEFAULT_CONFIG_FILE} when present)`)
    .option('--address <path>', 'CRI socket (default /run/berth/berth.sock)')
    .option('--root <dir>', 'persistent state (default /var/lib/berth)')
    .option('--state <dir>', 'runtime state, tmpfs (default /run/berth)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal');
}
