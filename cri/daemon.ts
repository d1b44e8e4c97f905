// The berth daemon, in start-up order: open the CRI store and the image store, start the task
// manager and reload its shims -> recover CRI state (cri/runtime/recover.ts) -> the CRI calls are
// answered -> streaming server, metrics, admin socket, then (250 ms on) the host facts and the
// AppArmor profile. The two opens and the shim reload run concurrently (a restart is on the
// critical path; each waits on its own disk or its own shims); recovery needs them all; what
// comes after serving is loaded then, not at start (docs/cri.md "Start-up order").
// The CRI socket is bound as soon as the CRI store is open (its lock proves the root is ours, so
// a socket file left there is stale), and every call waits until recovery is done: clients
// connect meanwhile, and no answer predates recovery. Exec, Attach and PortForward also wait for
// the streaming server; a spec (RunPodSandbox, CreateContainer) waits for the AppArmor profile.
// startDaemon returns (and systemd hears READY=1) once the streaming server listens: one that
// cannot fails the start. Exit handling (cri/events) is subscribed before the reload but waits
// until recovery ends, so every exit that happened while berth was down is applied to records
// that exist, with the task's logs attached. OOM events that arrive during the reload wait for
// the CRI store only. close() leaves every pod running: shims, tasks and FIFOs stay for the next
// start.
import path from 'node:path';
import { Level } from 'level';
import { KeyedMutex, PhaseClock, settleAll, type Logger } from '../common/index.js';
import { ImageService, imageRootOf } from '../image/index.js';
import { ExitMonitor, TaskManager } from '../taskmanager/index.js';
import type { BerthConfig } from './config/index.js';
import { ContainerEventHub, StopWaiters, watchTaskExits } from './events/index.js';
import { PodNetworking } from './network/index.js';
import { ContainerLogs, exitDeps, loadHostProfiles, recoverState, streamServerAddress, streamingBackend, type RuntimeDeps } from './runtime/index.js';
import { adminAddressOf, serveAdmin } from './admin-server.js';
import { DaemonMetrics } from './metrics/index.js';
import { secureDaemonDirs } from './root-dirs.js';
import { serveCri, type CriBackends, type CriServer } from './server.js';
import { openStore } from './store/index.js';

export interface Daemon {
  readonly deps: RuntimeDeps;
  readonly server: CriServer;
  /** Where the start's time went (the clock passed to startDaemon), for the 'berth ready' log line. */
  readonly phases: PhaseClock;
  close(): Promise<void>;
}

/** Debian installs the CNI plugins in /usr/lib/cni, not containerd's default /opt/cni/bin: it is
 *  searched after the configured dir(s), so a plugin in bin_dir still wins. */
const DEBIAN_CNI_DIR = '/usr/lib/cni';
const cniBinDirs = (binDir: string): string[] => [...new Set([...binDir.split(':').filter((d) => d !== ''), DEBIAN_CNI_DIR])];

/** The host facts and AppArmor profile are read this long after the daemon serves (cri/runtime/handler.ts). */
const HOST_PROFILES_AFTER_MS = 250;

export async function startDaemon(config: BerthConfig, log: Logger, clock = new PhaseClock()): Promise<Daemon> {
  const root = config.root;
  const state = config.state;
  const stores = {
    cri: path.join(root, 'cri'), images: imageRootOf(root), imageDb: path.join(root, 'image-db'), exits: path.join(root, 'exits'),
    tasks: path.join(root, 'io.containerd.runtime.v2.task'),
  };
  await clock.time('dirs', () => secureDaemonDirs(root, state, Object.values(stores), log, [config.grpc.address, config.ttrpc.address]));
  if (config.ignored.length > 0) log.warn({ keys: config.ignored }, 'config keys accepted with no effect in berth');
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await Promise.resolve().then(c).catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };
  // The CRI socket is bound as soon as the store's lock proves this daemon owns the root; its
  // calls wait for `backends`, settled once recovery (and the streaming server) are done.
  let settleBackends!: { ok: (b: CriBackends) => void; fail: (err: unknown) => void };
  const backends = new Promise<CriBackends>((ok, fail) => { settleBackends = { ok, fail }; });
  backends.catch(() => undefined); // the caller gets the error from startDaemon itself
  const events = new ContainerEventHub();
  let serving: Promise<CriServer> | undefined;
  let server: CriServer | undefined;
  try {
    let recovered!: (deps: RuntimeDeps) => void;
    const recovery = new Promise<RuntimeDeps>((r) => { recovered = r; });
    // Closers per step, joined in a fixed order below (store, images, exits, tasks), so shutdown
    // order does not depend on which open finished first.
    const storeClosers: typeof closers = [];
    const imageClosers: typeof closers = [];
    const taskClosers: typeof closers = [];
    const opening = clock.time('cri store', () => openStore(path.join(stores.cri, 'store'), { log })).then((s) => (storeClosers.push(() => s.close()), s));
    // Metrics (docs/metrics.md) load beside the store: every CRI call is observed from the first.
    const metrics = config.metrics.address === '' ? undefined : DaemonMetrics.create(log.child({ component: 'metrics' }));
    serving = Promise.all([opening, metrics]).then(([, m]) => serveCri(config.grpc.address, backends, events, log, m?.observeCall));
    serving.catch(() => undefined); // awaited below; a bind failure must not be an unhandled rejection meanwhile
    const imagesOpening = clock.time('image store', async () => {
      const imageDb = new Level<string, unknown>(stores.imageDb, { valueEncoding: 'json' });
      await imageDb.open();
      imageClosers.push(() => imageDb.close());
      return ImageService.open({
        root: stores.images, db: imageDb, configPath: config.registry.configPath,
        maxConcurrentDownloads: config.maxConcurrentDownloads, idleTimeoutMs: config.imagePullProgressTimeoutMs,
        log: log.child({ component: 'image' }),
      });
    });
    const reloading = (async () => {
      const exits = new ExitMonitor({ log: log.child({ component: 'exits' }) });
      taskClosers.push(() => exits.close());
      const tasks = await clock.time('task manager', () => TaskManager.open({
        stateDir: path.join(state, 'io.containerd.runtime.v2.task'), rootDir: stores.tasks,
        grpcAddress: config.grpc.address, ttrpcAddress: config.ttrpc.address, exits, log: log.child({ component: 'tasks' }),
      }));
      taskClosers.push(() => tasks.close());
      watchTaskExits({ exits, tasks }, recovery.then(async (d) => (await metrics)?.countingExits(exitDeps(d)) ?? exitDeps(d)), opening, log);
      const outcomes = await clock.time('shim reload', () => tasks.reload());
      return { tasks, outcomes };
    })();
    // Every step settles before the first failure is thrown, so closeAll finds all it opened.
    let opened;
    try {
      opened = await settleAll([opening, imagesOpening, reloading]);
    } finally {
      closers.push(...storeClosers, ...imageClosers, ...taskClosers);
    }
    const [store, images, { tasks, outcomes }] = opened;
    const logs = new ContainerLogs(config.maxContainerLogLineSize, log);
    closers.push(() => logs.closeAll());
    const network = new PodNetworking({
      binDir: cniBinDirs(config.cni.binDir), confDir: config.cni.confDir, maxConfNum: config.cni.maxConfNum, ipPref: config.cni.ipPref,
      stateDir: state, log: log.child({ component: 'network' }),
    });
    const deps: RuntimeDeps = {
      config, store, images, tasks, events, stops: new StopWaiters(), logs, network,
      dirs: { root: stores.cri, state: path.join(state, 'cri') }, locks: new KeyedMutex(), starting: new KeyedMutex(),
      log, podCidr: '',
    };
    // The streaming server (ws, node:http: loaded here, not at start) listens once the calls are
    // answered, a turn of the event loop after, so their replies go out first; its URLs come only
    // from Exec, Attach and PortForward, which wait for it (deps.streamingStarted). A start
    // whose streaming server cannot listen still fails as a whole (below).
    let beginStreaming!: () => void;
    const streamingStart = new Promise<void>((r) => { beginStreaming = r; }).then(() => new Promise((r) => { setImmediate(r); })).then(() => clock.time('streaming', async () => {
      const { StreamingServer } = await import('./streaming/index.js');
      const s = await StreamingServer.start({
        backend: streamingBackend(deps), address: streamServerAddress(config.streamServerAddress), port: config.streamServerPort,
        idleTimeoutMs: config.streamIdleTimeoutMs, log,
      });
      closers.push(() => s.close());
      deps.streaming = s;
      log.info({ url: s.baseUrl }, 'streaming server listening');
      return s;
    }));
    deps.streamingStarted = streamingStart;
    streamingStart.catch(() => undefined); // awaited below
    await clock.time('recover', () => recoverState(deps, outcomes));
    recovered(deps);
    log.info({ sandboxes: store.sandboxes.size, containers: store.containers.size, tasks: outcomes.length }, 'state recovered');
    settleBackends.ok({ deps, images });
    clock.record('serving', performance.now(), performance.now());
    beginStreaming();
    void loadHostProfiles(config, log, HOST_PROFILES_AFTER_MS);
    await streamingStart;
    const m = await metrics;
    if (m) closers.push(await m.serve(config.metrics.address, { store, tasks, images, defaultRuntime: config.containerd.defaultRuntimeName }, log));
    server = await serving;
    const cri = server;
    closers.push(() => cri.close());
    // berthctl import/export (docs/images.md "Import and export"): root-only, beside the CRI socket.
    const admin = await serveAdmin(adminAddressOf(config.grpc.address), images, log);
    closers.push(() => admin.close());
    return { deps, server: cri, phases: clock, close: closeAll };
  } catch (err) {
    settleBackends.fail(err);
    // A socket already bound closes first (before the stores its calls would use).
    const bound = server ?? (await serving?.catch(() => undefined));
    if (bound && !server) await bound.close().catch((e: unknown) => log.warn({ err: e }, 'shutdown step failed'));
    await closeAll();
    throw err;
  }
}
