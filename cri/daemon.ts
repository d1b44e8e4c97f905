// The berth daemon, in start-up order: open the CRI store -> open the image store -> start the
// task manager and reload its shims -> recover CRI state (events.md §6) -> serve. Exit handling
// is subscribed before the reload but waits until recovery ends, so every exit that happened
// while berth was down is applied to records that exist, with the task's logs attached.
// close() leaves every pod running: shims, tasks and FIFOs stay for the next start.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { KeyedMutex, type Logger } from '../common/index.js';
import { ImageService } from '../image/index.js';
import { ExitMonitor, TaskManager, openExitDb } from '../taskmanager/index.js';
import type { BerthConfig } from './config/index.js';
import { ContainerEventHub, StopWaiters } from './events/index.js';
import { PodNetworking } from './network/index.js';
import { ContainerLogs, handleExit, handleTaskEvent, recoverState, streamServerAddress, streamingBackend, type RuntimeDeps } from './runtime/index.js';
import { serveCri, type CriServer } from './server.js';
import { openStore } from './store/index.js';
import { StreamingServer } from './streaming/index.js';

export interface Daemon {
  readonly deps: RuntimeDeps;
  readonly server: CriServer;
  close(): Promise<void>;
}

/** Debian installs the CNI plugins in /usr/lib/cni, not containerd's default /opt/cni/bin: it is
 *  searched after the configured dir(s), so a plugin in bin_dir still wins. */
const DEBIAN_CNI_DIR = '/usr/lib/cni';
const cniBinDirs = (binDir: string): string[] => [...new Set([...binDir.split(':').filter((d) => d !== ''), DEBIAN_CNI_DIR])];

export async function startDaemon(config: BerthConfig, log: Logger): Promise<Daemon> {
  const root = config.root;
  const state = config.state;
  await mkdir(root, { recursive: true, mode: 0o711 });
  await mkdir(state, { recursive: true, mode: 0o711 });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await Promise.resolve().then(c).catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };
  try {
    const store = await openStore(path.join(root, 'cri', 'store'), { log });
    closers.push(() => store.close());
    const imageDb = new Level<string, unknown>(path.join(root, 'image-db'), { valueEncoding: 'json' });
    await imageDb.open();
    closers.push(() => imageDb.close());
    const images = await ImageService.open({
      root: path.join(root, 'images'), db: imageDb, configPath: config.registry.configPath,
      maxConcurrentDownloads: config.maxConcurrentDownloads, log: log.child({ component: 'image' }),
    });
    const exitDb = await openExitDb(path.join(root, 'exits'));
    closers.push(() => exitDb.close());
    const exits = new ExitMonitor({ db: exitDb.db, log: log.child({ component: 'exits' }) });
    closers.push(() => exits.close());
    const tasks = await TaskManager.open({
      stateDir: path.join(state, 'io.containerd.runtime.v2.task'), rootDir: path.join(root, 'io.containerd.runtime.v2.task'),
      grpcAddress: config.grpc.address, ttrpcAddress: config.ttrpc.address, exits, log: log.child({ component: 'tasks' }),
    });
    const logs = new ContainerLogs(config.maxContainerLogLineSize, log);
    closers.push(() => tasks.close());
    closers.push(() => logs.closeAll());
    const network = new PodNetworking({
      binDir: cniBinDirs(config.cni.binDir), confDir: config.cni.confDir, maxConfNum: config.cni.maxConfNum, ipPref: config.cni.ipPref,
      stateDir: state, log: log.child({ component: 'network' }),
    });
    const deps: RuntimeDeps = {
      config, store, images, tasks, events: new ContainerEventHub(), stops: new StopWaiters(), logs, network,
      dirs: { root: path.join(root, 'cri'), state: path.join(state, 'cri') }, locks: new KeyedMutex(), starting: new KeyedMutex(),
      log, podCidr: '',
    };
    let recovered!: () => void;
    const recovery = new Promise<void>((r) => { recovered = r; });
    exits.subscribe('cri', async (e) => {
      await recovery;
      await handleExit(deps, e);
    });
    tasks.onEvent((ev) => handleTaskEvent(deps, ev));
    await exits.replayUndelivered();
    const outcomes = await tasks.reload();
    await recoverState(deps, outcomes);
    recovered();
    log.info({ sandboxes: store.sandboxes.size, containers: store.containers.size, tasks: outcomes.length }, 'state recovered');
    const streaming = await StreamingServer.start({
      backend: streamingBackend(deps), address: streamServerAddress(config.streamServerAddress), port: config.streamServerPort,
      idleTimeoutMs: config.streamIdleTimeoutMs, log,
    });
    closers.push(() => streaming.close());
    deps.streaming = streaming;
    log.info({ url: streaming.baseUrl }, 'streaming server listening');
    const server = await serveCri(config.grpc.address, deps, images, log);
    closers.push(() => server.close());
    return { deps, server, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
