// The exit monitor: every process exit reaches it, from a task's Wait (the source of truth), from
// a /tasks/exit event (the fast path), from dead-shim handling or from reload. It de-duplicates by
// (namespace, container, process) and publishes exactly one TaskExit per process to every
// subscriber. A failing subscriber gets the exit again after 1 s, 2 s, 4 s ... (capped), per
// container id, keeping each id's order; exits of other ids are not held up.
//
// It keeps exits in memory only, until the task (or exec) is deleted: the exit's durable home is
// the subscriber's own record (the CRI store), written once. Nothing is lost when the daemon stops
// before a subscriber handled an exit, because the exit's source still holds it: the shim keeps
// an exited task (and answers Wait again after reload) until it is deleted, and a dead shim's
// bundle stays until its exits were handled (docs/taskmanager.md, "Exits").
import { silentLogger, type Logger } from '../common/index.js';

export interface TaskExit {
  namespace: string;
  containerId: string;
  /** Process id: the container id for the init process, the exec id for an exec. */
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

export type ExitSource = 'wait' | 'event' | 'dead-shim' | 'reload' | 'delete';

export type ExitHandler = (exit: Readonly<TaskExit>) => Promise<void> | void;

export interface ExitMonitorOptions {
  log?: Logger;
  /** First retry delay for a failing subscriber (default 1000 ms); doubles per failure. */
  retryInitialMs?: number;
  /** Retry delay cap (default 5 min, as containerd's CRI plugin). */
  retryMaxMs?: number;
}

export const exitKey = (namespace: string, containerId: string, id: string): string => `${namespace}/${containerId}/${id}`;

interface Delivery {
  exit: Readonly<TaskExit>;
  done: () => void;
}

/** One subscriber with a backoff queue per container id. */
class Subscriber {
  #queues = new Map<string, { items: Delivery[]; delay: number; timer?: NodeJS.Timeout }>();
  #closed = false;

  constructor(
    readonly name: string,
    private readonly handler: ExitHandler,
    private readonly opts: { initialMs: number; maxMs: number; log: Logger },
  ) {}

  deliver(d: Delivery): void {
    const qkey = `${d.exit.namespace}/${d.exit.containerId}`;
    const q = this.#queues.get(qkey);
    if (q) {
      q.items.push(d);
      return;
    }
    // The queue exists while the first attempt is in flight too: a second exit of the same
    // container that arrives meanwhile waits behind it instead of overtaking it.
    this.#queues.set(qkey, { items: [d], delay: this.opts.initialMs });
    void this.#drain(qkey);
  }

  async #attempt(d: Delivery): Promise<boolean> {
    try {
      await this.handler(d.exit);
      d.done();
      return true;
    } catch (err) {
      this.opts.log.warn({ err, subscriber: this.name, exit: d.exit }, 'exit subscriber failed; will retry');
      return false;
    }
  }

  #schedule(q: { delay: number; timer?: NodeJS.Timeout }, qkey: string): void {
    if (this.#closed) return;
    q.timer = setTimeout(() => void this.#drain(qkey), q.delay);
    q.delay = Math.min(q.delay * 2, this.opts.maxMs);
  }

  async #drain(qkey: string): Promise<void> {
    const q = this.#queues.get(qkey);
    if (!q || this.#closed) return;
    while (q.items.length > 0) {
      if (!(await this.#attempt(q.items[0]!))) {
        this.#schedule(q, qkey);
        return;
      }
      q.items.shift();
    }
    this.#queues.delete(qkey);
  }

  close(): void {
    this.#closed = true;
    for (const q of this.#queues.values()) clearTimeout(q.timer);
  }
}

interface Recorded {
  exit: Readonly<TaskExit>;
  source: ExitSource;
  /** Settles once every subscriber (of the moment it was recorded) handled the exit. */
  handled: Promise<void>;
}

export class ExitMonitor {
  readonly #log: Logger;
  readonly #exits = new Map<string, Recorded>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #waiters = new Map<string, Array<(e: TaskExit) => void>>();
  readonly #retry: { initialMs: number; maxMs: number };

  constructor(opts: ExitMonitorOptions = {}) {
    this.#log = opts.log ?? silentLogger;
    this.#retry = { initialMs: opts.retryInitialMs ?? 1_000, maxMs: opts.retryMaxMs ?? 300_000 };
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(name: string, handler: ExitHandler): () => void {
    const sub = new Subscriber(name, handler, { ...this.#retry, log: this.#log });
    this.#subscribers.add(sub);
    return () => {
      sub.close();
      this.#subscribers.delete(sub);
    };
  }

  /**
   * Records one exit and publishes it, unless this process's exit is already recorded.
   * `exit` is the one recorded (the first); `handled` settles once every subscriber handled it.
   */
  record(exit: TaskExit, source: ExitSource): { recorded: boolean; exit: Readonly<TaskExit>; handled: Promise<void> } {
    const key = exitKey(exit.namespace, exit.containerId, exit.id);
    const known = this.#exits.get(key);
    if (known) return { recorded: false, exit: known.exit, handled: known.handled };
    const frozen = Object.freeze({ ...exit });
    const handled = this.#publish(key, frozen);
    this.#exits.set(key, { exit: frozen, source, handled });
    this.#log.info({ exit: frozen, source }, 'task exit recorded');
    return { recorded: true, exit: frozen, handled };
  }

  /** The recorded exit of a process, if any. */
  get(namespace: string, containerId: string, id = containerId): TaskExit | undefined {
    return this.#exits.get(exitKey(namespace, containerId, id))?.exit;
  }

  /** Resolves with the process's exit once it is recorded. */
  waitFor(namespace: string, containerId: string, id = containerId): Promise<TaskExit> {
    const known = this.get(namespace, containerId, id);
    if (known) return Promise.resolve(known);
    const key = exitKey(namespace, containerId, id);
    return new Promise<TaskExit>((resolve) => {
      const list = this.#waiters.get(key) ?? [];
      list.push(resolve);
      this.#waiters.set(key, list);
    });
  }

  /** Callers blocked in waitFor() (diagnostics and leak tests). */
  get pendingWaits(): number {
    let n = 0;
    for (const list of this.#waiters.values()) n += list.length;
    return n;
  }

  /**
   * Forgets a process's exit (its task or exec was deleted; the id may be used again). With
   * `only`, forgets it only while that very exit is the one recorded.
   */
  forget(namespace: string, containerId: string, id = containerId, only?: Readonly<TaskExit>): void {
    const key = exitKey(namespace, containerId, id);
    if (only === undefined || this.#exits.get(key)?.exit === only) this.#exits.delete(key);
  }

  /** Exits recorded and not forgotten (diagnostics and leak tests). */
  get size(): number {
    return this.#exits.size;
  }

  #publish(key: string, exit: Readonly<TaskExit>): Promise<void> {
    const waiters = this.#waiters.get(key);
    this.#waiters.delete(key);
    for (const w of waiters ?? []) w(exit);
    const subs = [...this.#subscribers];
    if (subs.length === 0) return Promise.resolve(); // nobody to tell
    return new Promise<void>((resolve) => {
      let pending = subs.length;
      for (const sub of subs) sub.deliver({ exit, done: () => { if (--pending === 0) resolve(); } });
    });
  }

  close(): void {
    for (const s of this.#subscribers) s.close();
    this.#subscribers.clear();
  }
}
