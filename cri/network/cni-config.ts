// Network configs from the CNI conf dir, loaded as go-cni/libcni do (docs/network.md "Config"): regular files
// ending in .conf/.conflist/.json, full paths sorted byte-wise, the first `maxConfNum` taken
// (0 = all); a .conf/.json is one plugin wrapped into a list; one bad file fails the whole load.
// The loader re-reads only when the dir or one of its files changed (mtime/size signature).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';

export type PluginConf = Readonly<Record<string, unknown>> & { readonly type: string };

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  readonly disableCheck: boolean;
  readonly plugins: readonly PluginConf[];
  /** The file's bytes (the libcni cache stores them base64). */
  readonly bytes: Buffer;
  /** The file it came from ('' for built-ins). */
  readonly source: string;
}

const EXTENSIONS = ['.conf', '.conflist', '.json'];

/** go-cni's built-in loopback network, attached to every pod as `lo`. */
export const LOOPBACK_NETWORK: NetworkConfigList = (() => {
  const bytes = Buffer.from('{"cniVersion":"0.3.1","name":"cni-loopback","plugins":[{"type":"loopback"}]}');
  return { ...parseConfigList(bytes, ''), bytes };
})();

/** Thrown when the conf dir holds no config: the network is not ready, pods cannot get one. */
class NoNetworkConfigError extends FailedPreconditionError {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(source: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid cni config ${source || '(built-in)'}: ${why}`);
}

function parseJson(bytes: Buffer, source: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(source, (e as Error).message);
  }
  if (!isObject(v)) throw invalid(source, 'not a JSON object');
  return v;
}

function pluginOf(v: unknown, source: string, where: string): PluginConf {
  if (!isObject(v)) throw invalid(source, `${where} is not an object`);
  if (typeof v.type !== 'string' || v.type === '') throw invalid(source, `${where} has no "type"`);
  if (v.type.includes('/') || v.type === '.' || v.type === '..') throw invalid(source, `${where} type ${JSON.stringify(v.type)} is not a plugin name`);
  return v as PluginConf;
}

function versionOf(v: Record<string, unknown>, source: string): string {
  if (v.cniVersion === undefined) return '';
  if (typeof v.cniVersion !== 'string') throw invalid(source, '"cniVersion" must be a string');
  return v.cniVersion;
}

/** Parses a .conflist file. */
export function parseConfigList(bytes: Buffer, source: string): NetworkConfigList {
  const v = parseJson(bytes, source);
  if (typeof v.name !== 'string' || v.name === '') throw invalid(source, 'no network "name"');
  if (!Array.isArray(v.plugins) || v.plugins.length === 0) throw invalid(source, 'no "plugins"');
  if (v.disableCheck !== undefined && typeof v.disableCheck !== 'boolean') throw invalid(source, '"disableCheck" must be a boolean');
  const plugins = v.plugins.map((p, i) => pluginOf(p, source, `plugin ${i}`));
  return { name: v.name, cniVersion: versionOf(v, source), disableCheck: v.disableCheck === true, plugins, bytes, source };
}

/** Parses a .conf/.json file (one plugin) into a one-plugin list with the same name and version. */
function parseSingleConfig(bytes: Buffer, source: string): NetworkConfigList {
  const v = parseJson(bytes, source);
  const plugin = pluginOf(v, source, 'config');
  if (typeof v.name !== 'string' || v.name === '') throw invalid(source, 'no network "name"');
  const cniVersion = versionOf(v, source);
  // libcni's ConfListFromConf keeps the raw bytes of the wrapped list, so the cache shows a list.
  const list = { cniVersion, name: v.name, plugins: [v] };
  return { name: v.name, cniVersion, disableCheck: false, plugins: [plugin], bytes: Buffer.from(JSON.stringify(list)), source };
}

interface Candidate {
  path: string;
  signature: string;
}

async function candidates(confDir: string): Promise<Candidate[]> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const paths = names
    .filter((n) => EXTENSIONS.some((ext) => n.endsWith(ext) && n.length > ext.length))
    .map((n) => join(confDir, n))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Candidate[] = [];
  for (const path of paths) {
    try {
      const st = await stat(path);
      if (st.isFile()) out.push({ path, signature: `${path}:${st.mtimeMs}:${st.size}:${st.ino}` });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // removed while listing
    }
  }
  return out;
}

/** Loads the networks of a conf dir (not counting loopback). Throws NoNetworkConfigError when empty. */
export async function loadNetworkConfigs(confDir: string, maxConfNum: number): Promise<NetworkConfigList[]> {
  const files = await candidates(confDir);
  const lists: NetworkConfigList[] = [];
  for (const { path } of files) {
    if (maxConfNum > 0 && lists.length >= maxConfNum) break;
    const bytes = await readFile(path);
    lists.push(path.endsWith('.conflist') ? parseConfigList(bytes, path) : parseSingleConfig(bytes, path));
  }
  if (lists.length === 0) {
    throw new NoNetworkConfigError(`cni config load failed: no network config found in ${confDir}: cni plugin not initialized`);
  }
  return lists;
}

/** Caches the last load; reloads when the set of files or any file's mtime/size/inode changed. */
export class ConfigLoader {
  #signature: string | undefined;
  #result: { lists: NetworkConfigList[] } | { error: unknown } | undefined;

  constructor(
    readonly confDir: string,
    readonly maxConfNum: number,
  ) {}

  async load(): Promise<NetworkConfigList[]> {
    const files = await candidates(this.confDir);
    const signature = files.map((f) => f.signature).join('|');
    if (this.#result === undefined || signature !== this.#signature) {
      this.#signature = signature;
      try {
        this.#result = { lists: await loadNetworkConfigs(this.confDir, this.maxConfNum) };
      } catch (error) {
        this.#result = { error };
      }
    }
    if ('error' in this.#result) throw this.#result.error;
    return this.#result.lists;
  }
}
