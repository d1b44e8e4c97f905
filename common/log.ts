// pino loggers. Components take a Logger and add their ids with `.child({ podId, containerId })`.
// pino is loaded on first use, not at import: every process that imports common/ (the shim's
// `start` action runs once per container) would otherwise pay ~10 ms to evaluate it. It is
// required at run time (not bundled), so a bundle that never logs never evaluates it.
import { createRequire } from 'node:module';
import type { Logger as PinoLogger, LevelWithSilent, DestinationStream } from 'pino';

export type Logger = PinoLogger;

type PinoModule = typeof import('pino');
let pinoModule: PinoModule | undefined;

function loadPino(): PinoModule['pino'] {
  pinoModule ??= createRequire(import.meta.url)('pino') as PinoModule;
  return pinoModule.pino;
}

export function createLogger(opts: { level?: LevelWithSilent; name?: string; destination?: DestinationStream } = {}): Logger {
  const pino = loadPino();
  const options = { level: opts.level ?? 'info', ...(opts.name ? { name: opts.name } : {}) };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/**
 * A Logger that builds the real one on its first use. Methods are bound to the real logger (so
 * `child()` and the level methods see pino's own `this`), and each is bound once.
 */
function lazyLogger(make: () => Logger): Logger {
  let real: Logger | undefined;
  const target = (): Logger => (real ??= make());
  const bound = new WeakMap<object, unknown>();
  return new Proxy({} as Logger, {
    get(_, prop) {
      const r = target();
      const value: unknown = Reflect.get(r, prop, r);
      if (typeof value !== 'function') return value;
      let b = bound.get(value);
      if (!b) bound.set(value, (b = (value as (...a: unknown[]) => unknown).bind(r)));
      return b;
    },
    set: (_, prop, value) => Reflect.set(target(), prop, value),
    has: (_, prop) => Reflect.has(target(), prop),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
}

/** A logger that drops everything: for unit tests and library callers that pass none. */
export const silentLogger: Logger = lazyLogger(() => loadPino()({ level: 'silent' }));

const LEVEL_METHODS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
/** Records kept while a deferred logger waits for its real one (older ones are dropped). */
const DEFERRED_MAX = 1_000;

export interface DeferredLogger {
  /** Use this now; calls are kept and replayed (in order, with their children's bindings). */
  readonly logger: Logger;
  /** Hands over the real logger: kept records are written to it, later calls go straight to it. */
  resolve(real: Logger): void;
}

/**
 * A Logger usable before its real one exists, so a process can defer loading pino (~20 ms)
 * until after its latency-critical start. Supports the level methods and `child()`.
 */
export function deferredLogger(): DeferredLogger {
  const queue: { chain: Record<string, unknown>[]; level: string; args: unknown[] }[] = [];
  let root: Logger | undefined;
  const realFor = (chain: Record<string, unknown>[]): Logger => {
    let l = root!;
    for (const b of chain) l = l.child(b);
    return l;
  };
  const make = (chain: Record<string, unknown>[]): Logger => {
    let real: Logger | undefined;
    const current = (): Logger | undefined => (real ??= root ? realFor(chain) : undefined);
    // Bound once per method (a daemon logs through this for its whole life): rebound only when
    // the logger's own method changes (pino swaps level methods when its level is set).
    const bound = new Map<PropertyKey, { fn: unknown; b: unknown }>();
    return new Proxy({} as Logger, {
      get(_, prop) {
        const r = current();
        if (r) {
          const v: unknown = Reflect.get(r, prop, r);
          if (typeof v !== 'function') return v;
          const hit = bound.get(prop);
          if (hit && hit.fn === v) return hit.b;
          const b = (v as (...a: unknown[]) => unknown).bind(r);
          bound.set(prop, { fn: v, b });
          return b;
        }
        if (prop === 'child') return (bindings: Record<string, unknown>) => make([...chain, bindings]);
        if (typeof prop === 'string' && LEVEL_METHODS.has(prop)) {
          return (...args: unknown[]) => {
            if (queue.length >= DEFERRED_MAX) queue.shift();
            queue.push({ chain, level: prop, args });
          };
        }
        return undefined;
      },
    });
  };
  const logger = make([]);
  return {
    logger,
    resolve(real) {
      root = real;
      for (const rec of queue.splice(0)) {
        const l = realFor(rec.chain) as unknown as Record<string, (...a: unknown[]) => void>;
        l[rec.level]!(...rec.args);
      }
    },
  };
}
