#!/usr/bin/env node
// berth: the CRI daemon. Serves runtime.v1 RuntimeService + ImageService on a unix socket.
// SIGTERM/SIGINT shut it down cleanly and leave every pod running; the next start reloads them.
import './bundle-preload.js';
import './daemon-memory.js';
import { existsSync } from 'node:fs';
import { PhaseClock, createLogger, deferredLogger, toStatus, type DeferredLogger, type Logger } from '../common/index.js';
import { loadConfig, startDaemon, type ConfigOverrides } from '../cri/index.js';
import type { LevelWithSilent } from 'pino';
import { DEFAULT_CONFIG_FILE, daemonCommand, type DaemonFlags } from './berth-flags.js';
import { WARM_CACHE_EVENT } from './code-cache.js';
import { takeSystemdNotifier } from './sd-notify.js';

/** pino (~20 ms to load) is created this long after the CRI socket serves; records wait till then. */
const LOGGER_DELAY_MS = 250;

async function main(): Promise<void> {
  // Zero is the process's start: `boot` is Node's own start plus reading, compiling and
  // evaluating the bundle, up to here (docs/cri.md "Start-up order").
  const clock = new PhaseClock(0);
  clock.record('boot', 0, performance.now());
  const program = daemonCommand().parse();
  const f = program.opts<DaemonFlags>();
  const file = f.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const overrides: ConfigOverrides = {
    ...(f.root ? { root: f.root } : {}),
    ...(f.state ? { state: f.state } : {}),
    ...(f.address ? { grpc: { address: f.address }, ttrpc: { address: `${f.address}.ttrpc` } } : {}),
    ...(f.logLevel ? { debug: { level: f.logLevel as 'info' } } : {}),
  };
  const config = await clock.time('config', () => loadConfig(file, overrides));
  const level = (config.debug.level === 'panic' ? 'fatal' : config.debug.level) as LevelWithSilent;
  // A restart is on the critical path: log into a queue until shortly after the socket serves.
  logging = { deferred: deferredLogger(), make: () => createLogger({ level, name: 'berth' }) };
  const log = logging.deferred.logger;
  // Before anything is started: no child may inherit NOTIFY_SOCKET.
  const systemd = takeSystemdNotifier(process.env, log);
  log.info({ config: config.source ?? 'built-in defaults', address: config.grpc.address, root: config.root, state: config.state }, 'berth starting');
  const daemon = await startDaemon(config, log, clock);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    flushLog();
    systemd?.notify('STOPPING=1');
    log.info({ signal }, 'shutting down; pods keep running');
    void daemon.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info({ phases: clock.snapshot() }, 'berth ready');
  // startDaemon returns once the CRI socket answers calls (recovery done): now systemd may start kubelet.
  systemd?.notify('READY=1');
  setTimeout(flushLog, LOGGER_DELAY_MS).unref();
  // A start that reloaded pods compiled the restart path: the code cache may keep it (cli/code-cache.ts).
  if (daemon.deps.store.sandboxes.size > 0) (process as NodeJS.EventEmitter).emit(WARM_CACHE_EVENT);
}

let logging: { deferred: DeferredLogger; make: () => Logger } | undefined;
/** Hands the queued records to the real logger, once: after serving, at shutdown, or on failure. */
function flushLog(): void {
  const l = logging;
  logging = undefined;
  l?.deferred.resolve(l.make());
}

main().catch((err: unknown) => {
  flushLog();
  const s = toStatus(err);
  process.stderr.write(`berth: ${s.message}\n`);
  process.exit(1);
});
