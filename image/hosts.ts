// Registry hosts for one registry name, from containerd's `config_path` layout (hosts.toml) or
// the defaults: docker.io -> registry-1.docker.io, localhost -> plain http.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { InvalidArgumentError, parseDuration } from '../common/index.js';

export type Capability = 'pull' | 'resolve' | 'push';

export interface RegistryHost {
  /** The registry name the ref used (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  readonly scheme: 'http' | 'https';
  /** host[:port] to connect to. */
  readonly host: string;
  /** Base path, e.g. `/v2`. */
  readonly path: string;
  readonly capabilities: readonly Capability[];
  readonly skipVerify: boolean;
  /** PEM CA certificates (contents, not paths). */
  readonly ca: readonly string[];
  /** Client certificates for mutual TLS: PEM certificate chain and key (contents, not paths). */
  readonly client: ReadonlyArray<{ readonly cert: string; readonly key: string }>;
  /** Most time to connect (TCP and TLS), in ms; 0 = only the request's idle limit. */
  readonly dialTimeoutMs: number;
  readonly headers: Readonly<Record<string, string[]>>;
}

/** The keys a `[host."…"]` table may have (containerd's hosts.toml); others are refused. */
const HOST_KEYS = new Set(['capabilities', 'ca', 'client', 'skip_verify', 'header', 'override_path', 'dial_timeout']);

function isLocalhost(registry: string): boolean {
  const h = registry.replace(/:\d+$/, '');
  return h === 'localhost' || h === '127.0.0.1' || h === '::1' || h === '[::1]';
}

export function defaultHost(registry: string): RegistryHost {
  const local = isLocalhost(registry);
  return {
    registry,
    scheme: local ? 'http' : 'https',
    host: registry === 'docker.io' ? 'registry-1.docker.io' : registry,
    path: '/v2',
    capabilities: ['pull', 'resolve', 'push'],
    skipVerify: local,
    ca: [],
    client: [],
    dialTimeoutMs: 0,
    headers: {},
  };
}

/** First existing hosts dir for `registry` under the `:`-separated roots of `configPath`. */
async function findHostDir(configPath: string, registry: string): Promise<string | undefined> {
  const names: string[] = [];
  const m = /^(.*):(\d+)$/.exec(registry);
  if (m) names.push(`${m[1]}_${m[2]}_`);
  names.push(registry, '_default');
  for (const root of configPath.split(':').filter(Boolean)) {
    for (const n of names) {
      const dir = path.join(root, n);
      try {
        if ((await fs.stat(dir)).isDirectory()) return dir;
      } catch { /* try the next */ }
    }
  }
  return undefined;
}

type Table = Record<string, unknown>;

/**
 * `client`: a path (a PEM file holding the certificate and its key), a list of such paths, or a
 * list of [certificate, key] pairs where an empty key means the certificate file holds it too.
 */
async function clientCerts(dir: string, v: unknown, what: string): Promise<Array<{ cert: string; key: string }>> {
  if (v === undefined) return [];
  const bad = () => new InvalidArgumentError(`${what}: client must be a path, a list of paths, or a list of [cert, key] pairs`);
  const entries = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  if (entries.length === 0) throw bad();
  const read = (p: string) => fs.readFile(path.resolve(dir, p), 'utf8');
  const out: Array<{ cert: string; key: string }> = [];
  for (const e of entries) {
    if (typeof e === 'string') {
      const pem = await read(e);
      out.push({ cert: pem, key: pem });
    } else if (Array.isArray(e) && e.length === 2 && e.every((x) => typeof x === 'string') && e[0] !== '') {
      const cert = await read(e[0] as string);
      out.push({ cert, key: e[1] === '' ? cert : await read(e[1] as string) });
    } else throw bad();
  }
  return out;
}

async function hostFromTable(registry: string, dir: string, url: string, t: Table, what: string, extra: readonly string[] = []): Promise<RegistryHost> {
  const unknown = Object.keys(t).filter((k) => !HOST_KEYS.has(k) && !extra.includes(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`${what}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (berth reads ${[...HOST_KEYS, ...extra].join(', ')})`);
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `https://${url}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch (err) {
    throw new InvalidArgumentError(`${what}: invalid host URL ${JSON.stringify(url)}`, { cause: err });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`${what}: unsupported scheme in ${url}`);
  let p = u.pathname.replace(/\/+$/, '');
  if (t.override_path !== true && !p.endsWith('/v2')) p = `${p}/v2`;
  let caps: Capability[] = ['pull', 'resolve', 'push'];
  if (t.capabilities !== undefined) {
    if (!Array.isArray(t.capabilities)) throw new InvalidArgumentError(`${what}: capabilities must be a list`);
    caps = t.capabilities.map((c) => {
      if (c !== 'pull' && c !== 'resolve' && c !== 'push') throw new InvalidArgumentError(`${what}: unknown capability ${JSON.stringify(c)}`);
      return c;
    });
  }
  const caPaths = t.ca === undefined ? [] : Array.isArray(t.ca) ? t.ca : [t.ca];
  const ca: string[] = [];
  for (const c of caPaths) {
    if (typeof c !== 'string') throw new InvalidArgumentError(`${what}: ca must be a path or a list of paths`);
    ca.push(await fs.readFile(path.resolve(dir, c), 'utf8'));
  }
  const headers: Record<string, string[]> = {};
  if (t.header !== undefined) {
    if (typeof t.header !== 'object' || t.header === null) throw new InvalidArgumentError(`${what}: header must be a table`);
    for (const [k, v] of Object.entries(t.header as Table)) {
      const vals = Array.isArray(v) ? v : [v];
      if (!vals.every((x) => typeof x === 'string')) throw new InvalidArgumentError(`${what}: header ${k} must be strings`);
      headers[k.toLowerCase()] = vals as string[];
    }
  }
  let dialTimeoutMs = 0;
  if (t.dial_timeout !== undefined) {
    if (typeof t.dial_timeout !== 'string') throw new InvalidArgumentError(`${what}: dial_timeout must be a duration string like "5s"`);
    try {
      dialTimeoutMs = parseDuration(t.dial_timeout);
    } catch (err) {
      throw new InvalidArgumentError(`${what}: dial_timeout: ${(err as Error).message}`, { cause: err });
    }
    if (dialTimeoutMs < 0) throw new InvalidArgumentError(`${what}: dial_timeout must not be negative`);
  }
  return {
    registry,
    scheme: u.protocol === 'http:' ? 'http' : 'https',
    host: u.host,
    path: p,
    capabilities: caps,
    skipVerify: t.skip_verify === true,
    ca,
    client: await clientCerts(dir, t.client, what),
    dialTimeoutMs,
    headers,
  };
}

/**
 * The hosts to try for `registry`, in order: each `[host."…"]` of hosts.toml in file order, then
 * `server` (or the default upstream). Without a hosts dir: just the default upstream.
 */
export async function resolveHosts(registry: string, configPath?: string): Promise<RegistryHost[]> {
  const dir = configPath ? await findHostDir(configPath, registry) : undefined;
  if (!dir) return [defaultHost(registry)];
  const file = path.join(dir, 'hosts.toml');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return [defaultHost(registry)];
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new InvalidArgumentError(`${file}: invalid TOML`, { cause: err });
  }
  const hosts: RegistryHost[] = [];
  const hostTables = (doc.host ?? {}) as Table;
  // smol-toml keeps keys in file order, which is the order mirrors are tried.
  for (const [url, t] of Object.entries(hostTables)) {
    hosts.push(await hostFromTable(registry, dir, url, (t ?? {}) as Table, `${file} [host."${url}"]`));
  }
  if (typeof doc.server === 'string') {
    hosts.push(await hostFromTable(registry, dir, doc.server, doc, `${file} server`, ['server', 'host']));
  } else if (Object.keys(doc).some((k) => k !== 'host')) {
    // settings at the top without `server`: they apply to the default upstream (containerd)
    const d = defaultHost(registry);
    const h = await hostFromTable(registry, dir, `${d.scheme}://${d.host}`, doc, `${file} (top level)`, ['host']);
    hosts.push({ ...h, skipVerify: doc.skip_verify === undefined ? d.skipVerify : h.skipVerify });
  } else {
    hosts.push(defaultHost(registry));
  }
  return hosts;
}
