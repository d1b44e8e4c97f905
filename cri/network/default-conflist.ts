// The default pod network berth ships (deploy/cni/10-berth-bridge.conflist): a bridge `berth0`
// acting as gateway with IP masquerade, host-local addresses from a private /16, portmap for
// hostPort mappings (with SNAT so 127.0.0.1:<hostPort> works) and loopback. The quickstart calls
// installDefaultCniConfig(), which writes it only when the conf dir holds no config at all.
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_CONFLIST_NAME = '10-berth-bridge.conflist';

export interface DefaultConflistOptions {
  readonly networkName?: string;
  readonly bridge?: string;
  readonly subnet?: string;
  /** host-local's allocation dir (default /var/lib/cni/networks). */
  readonly dataDir?: string;
}

/** The conflist text (two-space JSON plus a newline, exactly as the file in deploy/cni/). */
export function defaultConflist(opts: DefaultConflistOptions = {}): string {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: opts.subnet ?? '10.88.0.0/16' }]],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  if (opts.dataDir !== undefined) ipam.dataDir = opts.dataDir;
  const list = {
    cniVersion: '1.0.0',
    name: opts.networkName ?? 'berth',
    plugins: [
      { type: 'bridge', bridge: opts.bridge ?? 'berth0', isGateway: true, ipMasq: true, hairpinMode: true, ipam },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'loopback' },
    ],
  };
  return `${JSON.stringify(list, null, 2)}\n`;
}

const CONFIG_EXTENSIONS = ['.conf', '.conflist', '.json'];

/**
 * Writes the default conflist into `confDir` when it has no .conf/.conflist/.json file (created
 * 0755 if missing). Returns the path written, or undefined when a config was already there.
 */
export async function installDefaultCniConfig(confDir: string, opts: DefaultConflistOptions = {}): Promise<string | undefined> {
  await mkdir(confDir, { recursive: true, mode: 0o755 });
  const present = (await readdir(confDir)).some((n) => CONFIG_EXTENSIONS.some((ext) => n.endsWith(ext)));
  if (present) return undefined;
  const path = join(confDir, DEFAULT_CONFLIST_NAME);
  // write then rename: a conf dir watcher never sees a half-written file
  await writeFile(`${path}.tmp`, defaultConflist(opts), { mode: 0o644 });
  await rename(`${path}.tmp`, path);
  return path;
}
