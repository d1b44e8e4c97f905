// One network config list run as libcni runs it (docs/network.md): ADD through the plugins in order,
// each given the previous result as prevResult; DEL in reverse order, each given the cached
// result (cniVersion >= 0.4.0); CHECK in order. Each plugin's stdin is its own object with the
// list's name and cniVersion, and runtimeConfig holding only the capabilities it declares.
import { InvalidArgumentError } from '../../common/index.js';
import type { NetworkConfigList, PluginConf } from './cni-config.js';
import { execPlugin, type CniCommand, type PluginInvocation } from './cni-exec.js';

export interface ListRun {
  readonly list: NetworkConfigList;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  readonly binDirs: readonly string[];
  readonly timeoutMs: number;
}

const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** libcni's checks before an ADD exec. */
function validateForAdd(run: ListRun): void {
  if (!NAME_RULE.test(run.containerId)) throw new InvalidArgumentError(`invalid cni container id ${JSON.stringify(run.containerId)}`);
  if (!NAME_RULE.test(run.list.name)) throw new InvalidArgumentError(`invalid cni network name ${JSON.stringify(run.list.name)}`);
  const i = run.ifName;
  if (i.length === 0 || i.length > 15 || i === '.' || i === '..' || /[/:\s]/.test(i)) {
    throw new InvalidArgumentError(`invalid cni interface name ${JSON.stringify(i)}`);
  }
}

/** Compares dotted versions; '' (unset) is the oldest. */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

function pluginStdin(run: ListRun, plugin: PluginConf, prevResult: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: run.list.name, cniVersion: run.list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const declared = plugin.capabilities;
  const runtimeConfig: Record<string, unknown> = {};
  if (typeof declared === 'object' && declared !== null) {
    for (const [cap, on] of Object.entries(declared)) {
      if (on === true && run.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = run.capabilityArgs[cap];
    }
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  else delete conf.runtimeConfig;
  return conf;
}

function invocation(run: ListRun, command: CniCommand): PluginInvocation {
  return { command, containerId: run.containerId, netns: run.netns, ifName: run.ifName, args: run.args, binDirs: run.binDirs, timeoutMs: run.timeoutMs };
}

/**
 * ADD through the list. On a plugin failure, `onPartial` receives the last result reached (or
 * undefined) before the error is rethrown, so the caller can DEL with it.
 */
export async function addList(run: ListRun, onPartial: (lastResult: unknown) => void): Promise<unknown> {
  validateForAdd(run);
  let prev: unknown;
  for (const plugin of run.list.plugins) {
    try {
      const out = await execPlugin(plugin.type, pluginStdin(run, plugin, prev), invocation(run, 'ADD'));
      if (typeof out !== 'object' || out === null) {
        throw new InvalidArgumentError(`plugin type=${JSON.stringify(plugin.type)} (add) printed no result`);
      }
      prev = out;
    } catch (err) {
      onPartial(prev);
      throw err;
    }
  }
  return prev;
}

/** DEL through the list in reverse; `cached` is the list's cached (or last reached) result. */
export async function delList(run: ListRun, cached: unknown): Promise<void> {
  const prev = versionAtLeast(run.list.cniVersion, '0.4.0') ? cached : undefined;
  for (const plugin of [...run.list.plugins].reverse()) {
    await execPlugin(plugin.type, pluginStdin(run, plugin, prev), invocation(run, 'DEL'));
  }
}

/** CHECK through the list; lists older than 0.4.0 or with disableCheck are skipped. */
export async function checkList(run: ListRun, cached: unknown): Promise<void> {
  if (run.list.disableCheck || !versionAtLeast(run.list.cniVersion, '0.4.0')) return;
  for (const plugin of run.list.plugins) {
    await execPlugin(plugin.type, pluginStdin(run, plugin, cached), invocation(run, 'CHECK'));
  }
}
