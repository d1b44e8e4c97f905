// The long-lived shim server (shim-v2.md §5): log to the bundle's `log` FIFO, become the child
// subreaper, serve containerd.task.v2.Task on the inherited fd 3 (or -socket), forward events to
// TTRPC_ADDRESS, and exit after a Shutdown that finds no container left.
import { constants, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { silentLogger, type Logger } from '../common/index.js';
import { TASK_SERVICE, TtrpcServer, socketPathOf, taskServiceMethods } from '../proto/index.js';
import { OomWatcher, Reaper, becomeSubreaper } from '../sys/index.js';
import type { ShimFlags } from './flags.js';
import { PodGuard } from './pod-guard.js';
import { TtrpcPublisher } from './publisher.js';
import { readContainerStats } from './stats.js';
import { TaskService } from './task-service.js';

const PUBLISHER_DRAIN_MS = 5_000;

export async function serve(flags: ShimFlags): Promise<void> {
  const log = openLog(flags.debug).child({ namespace: flags.namespace, id: flags.id, pid: process.pid });
  // Read now: the first bundle (our cwd) may be removed while later containers still run.
  const socketPath = flags.socket || readSocketPath();
  becomeSubreaper();
  const reaper = new Reaper({ logger: log });
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
    stats: readContainerStats,
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
  await server.listen(flags.socket ? flags.socket : { fd: 3 });
  log.info({ socket: socketPath }, 'shim serving');
}

function readSocketPath(): string | undefined {
  try {
    return socketPathOf(readFileSync(path.join(process.cwd(), 'address'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

// The `log` FIFO in the bundle, opened write-only without blocking: containerd holds the reader.
function openLog(debug: boolean): Logger {
  let fd: number;
  try {
    fd = openSync('log', constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return silentLogger;
  }
  // Required at run time like common's logger (one copy of pino per process, none in the bundle).
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const dest = pino.destination({ fd, sync: false });
  dest.on('error', () => undefined);
  return pino({ level: debug ? 'debug' : 'info', base: null, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
