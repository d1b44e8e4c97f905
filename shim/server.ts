// The long-lived shim server (docs/shim.md "Process contract"): log to the bundle's `log` FIFO, become the child
// subreaper, serve containerd.task.v2.Task, forward events to TTRPC_ADDRESS, and exit after a
// Shutdown that finds no container left. Started by `start` (BERTH_SHIM_START_FD set) it binds the
// pod's socket itself and reports to `start` (shim/start.ts); otherwise it serves -socket or an
// inherited listening fd 3. pino is loaded only once it serves (records wait in a deferred logger).
import { constants, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { deferredLogger, silentLogger, type Logger } from '../common/index.js';
import { TASK_SERVICE, TtrpcServer, socketPathOf, taskServiceMethods } from '../proto/index.js';
import { OomWatcher, Reaper } from '../sys/index.js';
import type { ShimFlags } from './flags.js';
import { PodGuard } from './pod-guard.js';
import { SPARES_ENV, registerServer, trustedSparesRoot } from './spare-group.js';
import { TtrpcPublisher } from './publisher.js';
import { START_FD_ENV, inPlaceStart, type InPlaceStart } from './start.js';
import { TaskService } from './task-service.js';

const PUBLISHER_DRAIN_MS = 5_000;
// pino is loaded this long after the shim serves (~25 ms of work kept off the daemon's first
// calls); records logged until then are kept, and written at once if the process exits earlier.
const LOG_OPEN_DELAY_MS = 250;

/** `stdinFd`: an adopted spare's runtime options (the launcher's stdin), see shim/spare.ts. */
export async function serve(flags: ShimFlags, stdinFd?: number): Promise<void> {
  const reportFd = process.env[START_FD_ENV] ? Number(process.env[START_FD_ENV]) : -1;
  if (reportFd < 0) return run(flags, undefined);
  let start: InPlaceStart | undefined;
  try {
    start = inPlaceStart(flags, reportFd, process.cwd(), stdinFd);
    await run(flags, start);
  } catch (err) {
    if (!start) throw err; // main reports it (on the report fd: the env var is still set)
    start.reportError(err);
    process.exit(1);
  }
}

async function run(flags: ShimFlags, start: InPlaceStart | undefined): Promise<void> {
  // Started by the launcher with spares on: this server keeps its group's spare alive.
  const spares = trustedSparesRoot(process.env[SPARES_ENV], true);
  delete process.env[SPARES_ENV];
  const deferred = deferredLogger();
  const log = deferred.logger.child({ namespace: flags.namespace, id: flags.id, pid: process.pid });
  // Read now: the first bundle (our cwd) may be removed while later containers still run.
  const socketPath = start ? start.target.socketPath : flags.socket || readSocketPath();
  // Child subreaper from the first spawn on (runc, the pod guard): koffi is not on the start path.
  const reaper = new Reaper({ logger: log, subreaper: true });
  const publisher = new TtrpcPublisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace, log);
  const oom = new OomWatcher({ logger: log });
  const guard = socketPath ? new PodGuard(`${socketPath}.pod`, reaper, log) : undefined;
  const server = new TtrpcServer({ logger: log });

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('shutting down');
      // Whatever fails on the way out, the process still exits: a shim (and its sentinel) left
      // half-closed would serve nothing and never be cleaned up.
      try {
        if (socketPath) rmSync(socketPath, { force: true });
        guard?.dismiss();
        oom.close();
        await server.close({ timeoutMs: 1_000 });
        await publisher.close(PUBLISHER_DRAIN_MS);
        reaper.close();
      } catch (err) {
        log.error({ err }, 'shutdown step failed');
      } finally {
        process.exit(0);
      }
    })());

  const service = new TaskService({
    namespace: flags.namespace,
    reaper,
    publisher,
    log,
    oom,
    // The metrics messages are half the generated code: loaded on the first Stats call.
    stats: async (c) => (await import('./stats.js')).readContainerStats(c),
    onShutdown: () => void shutdown(),
    onContainersChanged: (list) => guard?.update(list),
  });
  server.register(TASK_SERVICE, taskServiceMethods, service.handlers());
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGPIPE', () => undefined);
  // The pod dies with this process (pod guard): a bug in one call must not take every container.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  if (start) {
    if (!(await start.bind((p) => server.listen(p)))) {
      // The pod's shim already serves this socket: report its address and leave.
      start.reportOk();
      process.exit(0);
    }
    try {
      await start.settle();
    } catch (err) {
      server.destroy();
      throw err;
    }
    start.reportOk();
    if (spares) registerSpareGroup(spares, flags);
  } else {
    await server.listen(flags.socket ? flags.socket : { fd: 3 });
  }
  log.info({ socket: socketPath }, 'shim serving');
  let logOpened = false;
  const openLogNow = (sync: boolean): void => {
    if (logOpened) return;
    logOpened = true;
    deferred.resolve(openLog(flags.debug, sync));
  };
  const logTimer = setTimeout(() => openLogNow(false), LOG_OPEN_DELAY_MS);
  process.once('exit', () => {
    clearTimeout(logTimer);
    openLogNow(true);
  });
}

function registerSpareGroup(spares: string, flags: ShimFlags): void {
  try {
    process.once('exit', registerServer(spares, flags.address, flags.namespace));
  } catch {
    // no spare for this group then: starts stay cold
  }
}

function readSocketPath(): string | undefined {
  try {
    return socketPathOf(readFileSync(path.join(process.cwd(), 'address'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

// The `log` FIFO in the bundle, opened write-only without blocking: containerd holds the reader.
function openLog(debug: boolean, sync: boolean): Logger {
  let fd: number;
  try {
    fd = openSync('log', constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return silentLogger;
  }
  // Required at run time like common's logger (one copy of pino per process, none in the bundle).
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const dest = pino.destination({ fd, sync });
  dest.on('error', () => undefined);
  return pino({ level: debug ? 'debug' : 'info', base: null, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
