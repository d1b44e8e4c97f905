// pino loggers. Components take a Logger and add their ids with `.child({ podId, containerId })`.
import { pino, type Logger as PinoLogger, type LevelWithSilent, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

export function createLogger(opts: { level?: LevelWithSilent; name?: string; destination?: DestinationStream } = {}): Logger {
  const options = { level: opts.level ?? 'info', ...(opts.name ? { name: opts.name } : {}) };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: for unit tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
