// Runs layer applies (applyLayer on a blob file) on one worker thread (image/unpack-worker.ts),
// or on the calling thread when no worker script is at hand (sources run by vitest). A pull
// downloads on the main thread while the layers below are unpacked on the worker: the two cores
// of a small node both work, and the main thread's event loop stays free for the network.
// The worker is started on first use (or warm()), not at import: worker_threads costs the daemon's
// start path otherwise. It is unref'd and stopped after `idleMs` without work.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { InternalError, type Logger } from '../common/index.js';
import { applyLayer } from './apply-layer.js';
import { fileReader } from './chunk-reader.js';
import { growingReader, type GrowingFile } from './growing-file.js';
import type { Compression } from './media-types.js';
import { fromWireError, toWireError, withUsage, type FromWorker, type ToWorker, type UnpackResult } from './unpack-wire.js';

/** A layer blob in the content store, or the ingest file of its download in progress (followed). */
export type UnpackSource = ({ readonly file: string } | { readonly growing: GrowingFile }) & {
  /** Apply on the calling thread even when there is a worker (a small image: not worth waking it). */
  readonly inline?: boolean;
};

/** Images with fewer layer bytes than this unpack on the calling thread (a worker's start costs ~70 ms of CPU). */
export const WORKER_MIN_BYTES = 16 << 20;

/** Where the worker script is: beside this module in dist/, or beside the daemon bundle (cli/bundle.ts). */
export const UNPACK_WORKER_NAMES = ['unpack-worker.js', 'berth-unpack-worker.cjs'] as const;

export function defaultUnpackWorkerScript(): string | undefined {
  for (const name of UNPACK_WORKER_NAMES) {
    const p = fileURLToPath(new URL(`./${name}`, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface UnpackerOptions {
  /** Worker script; undefined: unpack on the calling thread. */
  script?: string;
  /** Stop the worker after this long without work (default 30 s). */
  idleMs?: number;
  /** Called once an idle worker has stopped (its memory is free then). */
  onStopped?: () => void;
  log: Logger;
}

interface Pending {
  resolve(r: UnpackResult): void;
  reject(err: Error): void;
  /** The followed ingest file of this apply. */
  growing?: GrowingFile;
}

export class Unpacker {
  readonly #o: UnpackerOptions;
  #worker: Worker | undefined;
  #starting: Promise<Worker> | undefined;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #idle: NodeJS.Timeout | undefined;
  /** The current worker has started running (its 'online' event). */
  #online = false;

  constructor(o: UnpackerOptions) {
    this.#o = o;
  }

  /** Whether applies run on a worker thread. */
  get threaded(): boolean {
    return this.#o.script !== undefined;
  }

  /** Whether the worker thread is up (or starting). */
  get running(): boolean {
    return this.#worker !== undefined || this.#starting !== undefined;
  }

  /** Starts the worker ahead of the first apply (a pull calls it while it fetches manifests). */
  warm(): void {
    if (this.threaded) this.#start().catch((err: unknown) => this.#o.log.warn({ err }, 'starting the unpack worker'));
  }

  /** Starts the worker and resolves once it runs (applies from then on go to it). */
  async ready(): Promise<void> {
    if (!this.threaded || this.#online) return;
    const w = await this.#start();
    if (!this.#online) await new Promise<void>((resolve, reject) => {
      w.once('online', () => resolve());
      w.once('exit', (code) => reject(new InternalError(`unpack worker exited (code ${code}) before it ran`)));
    });
  }

  /**
   * Applies a layer onto `root` (applyLayer's rules and errors). A growing source is read as far
   * as it is written and ends only once final; its download failing fails the apply. With
   * `measure`, that directory's disk usage is measured after the apply, on the same thread.
   */
  async apply(root: string, source: UnpackSource, compression: Compression, measure?: string): Promise<UnpackResult> {
    const fd = 'growing' in source ? source.growing.fd : undefined;
    if ('growing' in source && fd === undefined) throw new InternalError('unpack: the followed ingest file is not attached');
    // Until the worker is up (a cold start is ~70 ms plus its cold JIT), layers apply here: the
    // first layer of a pull does not wait for it, the later ones go to it.
    if (!this.threaded || source.inline || !this.#online) {
      if (this.threaded && !source.inline) this.warm();
      return withUsage(await applyLayer(root, 'growing' in source ? growingReader(fd!, source.growing) : fileReader(source.file), compression), measure);
    }
    const worker = await this.#start();
    clearTimeout(this.#idle);
    const id = ++this.#seq;
    try {
      return await new Promise<UnpackResult>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject, ...('growing' in source ? { growing: source.growing } : {}) });
        worker.postMessage({
          type: 'apply', id, root, source: 'growing' in source ? { fd: fd! } : { file: source.file }, compression,
          ...(measure !== undefined ? { measure } : {}),
        } satisfies ToWorker);
      });
    } finally {
      this.#pending.delete(id);
      if (this.#pending.size === 0 && this.#worker === worker) this.#armIdle(worker);
    }
  }

  /** Stops the worker (pending applies fail). */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    const w = this.#worker ?? (await this.#starting?.catch(() => undefined));
    this.#worker = undefined;
    this.#online = false;
    this.#starting = undefined;
    if (w) await w.terminate();
  }

  #start(): Promise<Worker> {
    if (this.#worker) return Promise.resolve(this.#worker);
    this.#starting ??= (async () => {
      // require, not import(): the daemon bundle runs in a vm.Script, which has no dynamic import.
      const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
      const w = new Worker(this.#o.script!);
      w.unref();
      w.once('online', () => {
        if (this.#worker !== w) return;
        this.#online = true;
        // Idle from when it runs: under load a start can take longer than idleMs, and a worker
        // stopped before it ran failed the ready() waiting for it.
        if (this.#pending.size === 0) this.#armIdle(w);
      });
      w.on('message', (m: FromWorker) => {
        const p = this.#pending.get(m.id);
        if (!p) return;
        if (m.type === 'want') {
          p.growing?.waitBeyond(m.offset).then(
            (s) => w.postMessage({ type: 'grow', id: m.id, size: s.size, final: s.final } satisfies ToWorker),
            (err: unknown) => w.postMessage({ type: 'fail', id: m.id, error: toWireError(err) } satisfies ToWorker),
          );
        } else if ('error' in m) {
          p.reject(fromWireError(m.error));
        } else {
          p.resolve(m.result);
        }
      });
      w.on('error', (err) => this.#o.log.warn({ err }, 'unpack worker failed'));
      w.once('exit', (code) => {
        if (this.#worker === w) {
          this.#worker = undefined;
          this.#online = false;
        }
        for (const p of this.#pending.values()) p.reject(new InternalError(`unpack worker exited (code ${code}) during a layer apply`));
        this.#pending.clear();
      });
      this.#worker = w;
      return w;
    })().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  #armIdle(w: Worker): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.#worker !== w || this.#pending.size > 0) return;
      this.#worker = undefined;
      this.#online = false;
      w.terminate().then(() => {
        try {
          this.#o.onStopped?.();
        } catch (err) {
          this.#o.log.warn({ err }, 'after the idle unpack worker stopped');
        }
      }, (err: unknown) => this.#o.log.warn({ err }, 'stopping the idle unpack worker'));
    }, this.#o.idleMs ?? 30_000);
    this.#idle.unref();
  }
}
