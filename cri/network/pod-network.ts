// Pod networking as containerd's CRI drives go-cni (docs/network.md): every pod gets the built-in
// loopback network on `lo` plus the conf dir's networks on eth0, eth1…; results are cached in
// libcni's layout so DEL gets the same prevResult after a restart; a failed setup is undone with
// DEL before the error returns; teardown runs DEL while the netns still pins the namespace, then
// unpins it. Calls on one sandbox are serialized; every plugin exec has a deadline.
//
// Restart rule: the intent journal (intents.ts) says which sandboxes have network work in flight.
// recoverNetworks() tears down every one the daemon no longer knows, and every one whose setup or
// teardown was interrupted, using the journalled configs and args: no leaked netns, veth, IP
// allocation or iptables rule.
import { FailedPreconditionError, KeyedMutex, joinWithin, settleAll, silentLogger, validateIdentifier, type Logger } from '../../common/index.js';
import { deleteCache, readCache, writeCache } from './cni-cache.js';
import { ConfigLoader, LOOPBACK_NETWORK, parseConfigList, type NetworkConfigList } from './cni-config.js';
import { addList, checkList, delList, type ListRun } from './cni-list.js';
import { parseResult, podIps, type CniInterface, type IpPreference } from './cni-result.js';
import { deleteIntent, listIntents, readIntent, readIntentSync, writeIntent, type IntentNetwork, type NetworkIntent } from './intents.js';
import { isNetns, listNetns, netnsPath, removeNetns } from './netns.js';
import { capabilityArgs, cniArgs, validateArgs, type PodNetworkArgs } from './pod-args.js';

export interface PodNetworkingOptions {
  /** Plugin dirs: one path, a ':'-joined list, or an array (CNI_PATH). */
  readonly binDir: string | readonly string[];
  readonly confDir: string;
  /** First N valid config files (default 1; 0 = all). */
  readonly maxConfNum?: number;
  /** Holds `netns/`, `cni-intents/` and (by default) `cni-cache/`. */
  readonly stateDir: string;
  /** libcni cache root (`results/` below it); default `<stateDir>/cni-cache`. */
  readonly cacheDir?: string;
  readonly ipPref?: string;
  /** Deadline of one plugin exec (default 30 s). */
  readonly pluginTimeoutMs?: number;
  readonly log?: Logger;
}

export interface PodNetworkResult {
  /** Primary pod IP (eth0, preferred family first); '' when eth0 has none (never on success). */
  readonly ip: string;
  readonly additionalIps: readonly string[];
  /** Every interface the networks reported (bridge, host veth, eth0, lo). */
  readonly interfaces: readonly CniInterface[];
}

export interface NetworkCondition {
  readonly ready: boolean;
  readonly reason: string;
  readonly message: string;
}

/** Fields teardown can use when the journal is gone; the id alone is enough otherwise. */
export type TeardownArgs = Pick<PodNetworkArgs, 'id'> & Partial<Omit<PodNetworkArgs, 'id'>>;

export interface TeardownOptions {
  /** Unpin and delete the netns after DEL (default true). */
  readonly removeNetns?: boolean;
}

export interface RecoveryReport {
  readonly kept: readonly string[];
  readonly tornDown: readonly string[];
  readonly failed: readonly { readonly id: string; readonly error: unknown }[];
}

/** How a failed setup is undone: the results reached so far, and lists whose DEL may fail. */
interface Undo {
  readonly partial: ReadonlyMap<string, unknown>;
  readonly bestEffort: (ifName: string) => boolean;
}

interface Attachment {
  readonly list: NetworkConfigList;
  readonly ifName: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function tolerableDelError(err: unknown, netns: string): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.includes('not found') || (netns === '' && msg.includes('no such file or directory'));
}

function attachmentOf(n: IntentNetwork): Attachment {
  return { list: parseConfigList(Buffer.from(n.config, 'base64'), `journal ${n.name}`), ifName: n.ifName };
}

// Loopback first, then eth0, eth1… (containerd's teardown order).
const byIfName = (a: Pick<Attachment, 'ifName'>, b: Pick<Attachment, 'ifName'>): number =>
  a.ifName === b.ifName ? 0 : a.ifName === 'lo' ? -1 : b.ifName === 'lo' ? 1 : a.ifName.localeCompare(b.ifName, 'en', { numeric: true });

export class PodNetworking {
  readonly #binDirs: readonly string[];
  readonly #loader: ConfigLoader;
  readonly #stateDir: string;
  readonly #cacheDir: string;
  readonly #ipPref: IpPreference;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #locks = new KeyedMutex();

  constructor(opts: PodNetworkingOptions) {
    this.#binDirs = (typeof opts.binDir === 'string' ? opts.binDir.split(':') : [...opts.binDir]).filter((d) => d !== '');
    this.#loader = new ConfigLoader(opts.confDir, opts.maxConfNum ?? 1);
    this.#stateDir = opts.stateDir;
    this.#cacheDir = opts.cacheDir ?? joinWithin(opts.stateDir, 'cni-cache');
    const pref = opts.ipPref ?? '';
    if (!['', 'ipv4', 'ipv6', 'cni'].includes(pref)) throw new FailedPreconditionError(`cni ip_pref ${JSON.stringify(pref)} is not ipv4, ipv6 or cni`);
    this.#ipPref = pref as IpPreference;
    this.#timeoutMs = opts.pluginTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#log = opts.log ?? silentLogger;
  }

  /** Status condition NetworkReady: not ready (NetworkPluginNotReady) while no config loads. */
  async networkStatus(): Promise<NetworkCondition> {
    try {
      await this.#loader.load();
      return { ready: true, reason: '', message: '' };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return { ready: false, reason: 'NetworkPluginNotReady', message: msg.startsWith('cni config load failed') ? msg : `cni config load failed: ${msg}` };
    }
  }

  /** ADD every network into the pod's netns; on failure everything done is DELeted first. */
  async setupPodNetwork(args: PodNetworkArgs): Promise<PodNetworkResult> {
    validateArgs(args);
    return this.#locks.run(args.id, () => this.#setup(args));
  }

  /** DEL every network (journal, cache, else current config), then unpin the netns. Idempotent. */
  async teardownPodNetwork(args: TeardownArgs, opts: TeardownOptions = {}): Promise<void> {
    validateIdentifier(args.id, 'sandbox id');
    return this.#locks.run(args.id, () => this.#teardown(args, opts.removeNetns ?? true));
  }

  /** CHECK every cached network of the pod (lists at cniVersion >= 0.4.0 without disableCheck). */
  async checkPodNetwork(id: string): Promise<void> {
    validateIdentifier(id, 'sandbox id');
    return this.#locks.run(id, async () => {
      const intent = await readIntent(this.#stateDir, id);
      if (intent?.phase !== 'ready') throw new FailedPreconditionError(`sandbox ${id} has no network set up`);
      const netns = isNetns(intent.args.netnsPath) ? intent.args.netnsPath : '';
      for (const att of intent.networks.map(attachmentOf).sort(byIfName)) {
        const cached = await readCache(this.#cacheDir, att.list.name, id, att.ifName);
        await checkList(this.#run(att, intent.args, netns, cached?.capabilityArgs), cached?.result);
      }
    });
  }

  /** The pod's IPs from the cached results (for PodSandboxStatus after a restart). */
  async podNetworkInfo(id: string): Promise<PodNetworkResult | undefined> {
    const intent = await readIntent(this.#stateDir, validateIdentifier(id, 'sandbox id'));
    if (intent?.phase !== 'ready') return undefined;
    const results: { ifName: string; result: unknown }[] = [];
    for (const n of intent.networks) {
      const cached = await readCache(this.#cacheDir, n.name, id, n.ifName);
      if (cached) results.push({ ifName: n.ifName, result: cached.result });
    }
    return this.#summarize(results);
  }

  /**
   * At daemon start: tear down (DEL + unpin) the network of every sandbox with a netns or journal
   * entry that is not in `keep`, or whose setup/teardown was cut short. `keep` = sandboxes the
   * daemon still runs.
   */
  async recoverNetworks(keep: Iterable<string>): Promise<RecoveryReport> {
    const known = new Set(keep);
    const netns = await listNetns(this.#stateDir);
    const ids = new Set([...(await listIntents(this.#stateDir)), ...netns.map((n) => n.id)]);
    const kept: string[] = [];
    const tornDown: string[] = [];
    const failed: { id: string; error: unknown }[] = [];
    const valid = (id: string): boolean => {
      try {
        validateIdentifier(id, 'sandbox id');
        return true;
      } catch {
        return false;
      }
    };
    // Every journal entry read before the (rare) teardowns, synchronously: a promised read was
    // four thread-pool trips per pod behind the start's other work (docs/cri.md "Start-up order").
    const intents = new Map([...ids].filter(valid).map((id) => [id, readIntentSync(this.#stateDir, id)] as const));
    for (const id of [...ids].sort()) {
      if (!valid(id)) {
        // not a name berth makes: unpin the file, nothing else can be ours
        for (const n of netns.filter((e) => e.id === id)) await removeNetns(n.path);
        tornDown.push(id);
        continue;
      }
      const intent = intents.get(id);
      if (known.has(id) && (intent === undefined || intent.phase === 'ready')) {
        kept.push(id);
        continue;
      }
      try {
        await this.#locks.run(id, () => this.#teardown({ id }, true));
        tornDown.push(id);
        this.#log.info({ sandboxId: id, phase: intent?.phase ?? 'no journal' }, 'recovered pod network: torn down');
      } catch (error) {
        failed.push({ id, error });
        this.#log.warn({ sandboxId: id, err: error }, 'pod network recovery failed; will retry on teardown');
      }
    }
    return { kept, tornDown, failed };
  }

  #run(att: Attachment, args: PodNetworkArgs, netns: string, cachedCaps?: Readonly<Record<string, unknown>>): ListRun {
    return {
      list: att.list,
      containerId: args.id,
      netns,
      ifName: att.ifName,
      args: cniArgs(args),
      capabilityArgs: cachedCaps && args.portMappings === undefined ? cachedCaps : capabilityArgs(args),
      binDirs: this.#binDirs,
      timeoutMs: this.#timeoutMs,
    };
  }

  async #setup(args: PodNetworkArgs): Promise<PodNetworkResult> {
    const lists = await this.#loader.load();
    if (!isNetns(args.netnsPath)) throw new FailedPreconditionError(`${args.netnsPath} is not a pinned network namespace`);
    const atts: Attachment[] = [{ list: LOOPBACK_NETWORK, ifName: 'lo' }, ...lists.map((list, i) => ({ list, ifName: `eth${i}` }))];
    const journal: NetworkIntent = {
      version: 1,
      phase: 'setting-up',
      args,
      networks: atts.map((a) => ({ name: a.list.name, ifName: a.ifName, config: a.list.bytes.toString('base64') })),
    };
    await writeIntent(this.#stateDir, journal);
    const results: { ifName: string; result: unknown }[] = [];
    const partial = new Map<string, unknown>();
    const attach = async (att: Attachment) => {
      const run = this.#run(att, args, args.netnsPath);
      const result = await addList(run, (last) => partial.set(att.ifName, last));
      await writeCache(this.#cacheDir, {
        kind: 'cniCacheV1',
        containerId: args.id,
        config: att.list.bytes.toString('base64'),
        ifName: att.ifName,
        networkName: att.list.name,
        cniArgs: run.args,
        capabilityArgs: run.capabilityArgs,
        result,
      });
      results.push({ ifName: att.ifName, result });
    };
    try {
      // Every network at once, as go-cni's Setup attaches them (each list's plugins stay in
      // order); all settle before a failure is undone, so no DEL races its own ADD.
      await settleAll(atts.map(attach));
      results.sort(byIfName);
      const summary = this.#summarize(results);
      if (summary.ip === '') throw new FailedPreconditionError(`failed to find network info for sandbox "${args.id}"`);
      await writeIntent(this.#stateDir, { ...journal, phase: 'ready' });
      return summary;
    } catch (err) {
      this.#log.warn({ sandboxId: args.id, err }, 'pod network setup failed; undoing');
      // Lists with no plugin that succeeded get a best-effort DEL: a plugin whose ADD failed
      // undoes its own work, and its config may be the very thing that is broken.
      const undoing: Undo = { partial, bestEffort: (ifName) => !results.some((r) => r.ifName === ifName) && partial.get(ifName) === undefined };
      try {
        await this.#teardown(args, false, undoing);
      } catch (undoErr) {
        this.#log.error({ sandboxId: args.id, err: undoErr }, 'undoing a failed pod network setup failed; recovery will retry');
      }
      throw err;
    }
  }

  async #teardown(req: TeardownArgs, unpin: boolean, undoing?: Undo): Promise<void> {
    const intent = await readIntent(this.#stateDir, req.id);
    const defaultNetns = netnsPath(this.#stateDir, req.id);
    const args: PodNetworkArgs = {
      name: '',
      namespace: '',
      uid: '',
      netnsPath: defaultNetns,
      ...intent?.args,
      ...Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)),
    } as PodNetworkArgs;
    if (intent && intent.phase !== 'tearing-down') {
      await writeIntent(this.#stateDir, { ...intent, phase: 'tearing-down' });
    }
    const atts = await this.#attachmentsFor(req.id, intent);
    const netns = isNetns(args.netnsPath) ? args.netnsPath : '';
    let firstError: unknown;
    for (const att of atts.sort(byIfName)) {
      const cached = await readCache(this.#cacheDir, att.list.name, req.id, att.ifName);
      const prev = undoing?.partial.get(att.ifName) ?? cached?.result;
      try {
        await delList(this.#run(att, args, netns, cached?.capabilityArgs), prev);
      } catch (err) {
        const ignore = undoing?.bestEffort(att.ifName) === true || tolerableDelError(err, netns);
        if (!ignore) {
          firstError ??= err;
          continue;
        }
        this.#log.warn({ sandboxId: req.id, network: att.list.name, err }, 'cni DEL failed; ignored (not found, or undoing a failed ADD)');
      }
      await deleteCache(this.#cacheDir, att.list.name, req.id, att.ifName);
    }
    if (firstError !== undefined) throw firstError;
    if (unpin) {
      await removeNetns(args.netnsPath);
      if (args.netnsPath !== defaultNetns) await removeNetns(defaultNetns);
    }
    await deleteIntent(this.#stateDir, req.id);
  }

  /** The networks to DEL: the journalled ones, else the current config (go-cni's behaviour). */
  async #attachmentsFor(id: string, intent: NetworkIntent | undefined): Promise<Attachment[]> {
    if (intent) return intent.networks.map(attachmentOf);
    let lists: NetworkConfigList[] = [];
    try {
      lists = await this.#loader.load();
    } catch (err) {
      this.#log.warn({ sandboxId: id, err }, 'cni config cannot be loaded; tearing down loopback only');
    }
    return [{ list: LOOPBACK_NETWORK, ifName: 'lo' }, ...lists.map((list, i) => ({ list, ifName: `eth${i}` }))];
  }

  #summarize(results: readonly { ifName: string; result: unknown }[]): PodNetworkResult {
    const interfaces: CniInterface[] = [];
    let ips: string[] = [];
    for (const { ifName, result } of results) {
      const parsed = parseResult(result, ifName);
      interfaces.push(...parsed.interfaces);
      if (ifName === 'eth0') ips = podIps(parsed, ifName, this.#ipPref);
    }
    return { ip: ips[0] ?? '', additionalIps: ips.slice(1), interfaces };
  }
}
