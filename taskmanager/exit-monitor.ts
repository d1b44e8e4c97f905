// The exit monitor: every process exit reaches it, from a task's Wait (the source of truth), from
// a /tasks/exit event (the fast path) or from dead-shim handling. It de-duplicates by
// (namespace, container, process), writes the exit to level BEFORE anyone hears of it, then
// publishes exactly one TaskExit per process to every subscriber. A failing subscriber gets the
// exit again after 1 s, 2 s, 4 s ... (capped), per container id, keeping each id's order; exits of
// other ids are not held up. Records not yet handled by every subscriber are replayed after a
// restart (`replayUndelivered`), so an exit is never lost between "recorded" and "handled".
import { KeyedMutex, silentLogger, type Logger } from '../common/index.js';

export interface TaskExit {
  namespace: string;
  containerId: string;
  /** Process id: the container id for the init process, the exec id for an exec. */
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

export type ExitSource = 'wait' | 'event' | 'dead-shim' | 'reload';

interface StoredExit {
  namespace: string;
  containerId: string;
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: string;
  source: ExitSource;
  delivered: boolean;
}

/** The slice of a level (sub)level with JSON values that the monitor needs. */
export interface ExitDb {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  iterator(): AsyncIterable<[string, unknown]>;
}

export type ExitHandler = (exit: Readonly<TaskExit>) => Promise<void> | void;

export interface ExitMonitorOptions {
  db: ExitDb;
  log?: Logger;
  /** First retry delay for a failing subscriber (default 1000 ms); doubles per failure. */
  retryInitialMs?: number;
  /** Retry delay cap (default 5 min, as containerd's CRI plugin). */
  retryMaxMs?: number;
}

export const exitKey = (namespace: string, containerId: string, id: string): string => `${namespace}/${containerId}/${id}`;

function toExit(s: StoredExit): TaskExit {
  return { namespace: s.namespace, containerId: s.containerId, id: s.id, pid: s.pid, exitStatus: s.exitStatus, exitedAt: new Date(s.exitedAt) };
}

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

export class ExitMonitor {
  readonly #db: ExitDb;
  readonly #log: Logger;
  readonly #locks = new KeyedMutex();
  readonly #subscribers = new Set<Subscriber>();
  readonly #waiters = new Map<string, Array<(e: TaskExit) => void>>();
  readonly #retry: { initialMs: number; maxMs: number };

  constructor(opts: ExitMonitorOptions) {
    this.#db = opts.db;
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
   * Records one exit. Returns true if it was new (then it is durable and being published),
   * false if this process's exit was already recorded.
   */
  record(exit: TaskExit, source: ExitSource): Promise<boolean> {
    const key = exitKey(exit.namespace, exit.containerId, exit.id);
    return this.#locks.run(key, async () => {
      if ((await this.#db.get(key)) !== undefined) return false;
      const stored: StoredExit = {
        namespace: exit.namespace, containerId: exit.containerId, id: exit.id, pid: exit.pid,
        exitStatus: exit.exitStatus, exitedAt: exit.exitedAt.toISOString(), source, delivered: false,
      };
      await this.#db.put(key, stored); // durable first ...
      this.#log.info({ exit: stored }, 'task exit recorded');
      this.#publish(key, stored); // ... then visible
      return true;
    });
  }

  /** The recorded exit of a process, if any. */
  async get(namespace: string, containerId: string, id = containerId): Promise<TaskExit | undefined> {
    const v = (await this.#db.get(exitKey(namespace, containerId, id))) as StoredExit | undefined;
    return v ? toExit(v) : undefined;
  }

  /** Resolves with the process's exit once it is recorded. */
  async waitFor(namespace: string, containerId: string, id = containerId): Promise<TaskExit> {
    const key = exitKey(namespace, containerId, id);
    return new Promise<TaskExit>((resolve, reject) => {
      const list = this.#waiters.get(key) ?? [];
      list.push(resolve);
      this.#waiters.set(key, list);
      // Checked after registering, so a record landing in between is not missed. When the exit
      // is already recorded the registration is dropped again, or every wait() would leave one.
      const unregister = (): void => {
        const waiting = this.#waiters.get(key);
        const at = waiting?.indexOf(resolve) ?? -1;
        if (at >= 0) waiting!.splice(at, 1);
        if (waiting?.length === 0) this.#waiters.delete(key);
      };
      this.get(namespace, containerId, id).then(
        (e) => { if (e) { unregister(); resolve(e); } },
        (err: unknown) => { unregister(); reject(err); },
      );
    });
  }

  /** Callers blocked in waitFor() (diagnostics and leak tests). */
  get pendingWaits(): number {
    let n = 0;
    for (const list of this.#waiters.values()) n += list.length;
    return n;
  }

  /** Forgets a process's exit (its task or exec was deleted; the id may be used again). */
  forget(namespace: string, containerId: string, id = containerId): Promise<void> {
    const key = exitKey(namespace, containerId, id);
    return this.#locks.run(key, () => this.#db.del(key));
  }

  /** Publishes again every recorded exit that not every subscriber handled before a restart. */
  async replayUndelivered(): Promise<number> {
    let n = 0;
    for await (const [key, value] of this.#db.iterator()) {
      const s = value as StoredExit;
      if (s.delivered) continue;
      this.#publish(key, s);
      n++;
    }
    return n;
  }

  #publish(key: string, stored: StoredExit): void {
    const exit = Object.freeze(toExit(stored));
    const waiters = this.#waiters.get(key);
    this.#waiters.delete(key);
    for (const w of waiters ?? []) w(exit);
    const subs = [...this.#subscribers];
    let pending = subs.length;
    const markDelivered = (): void => {
      void this.#locks.run(key, async () => {
        const cur = (await this.#db.get(key)) as StoredExit | undefined;
        if (cur && cur.exitedAt === stored.exitedAt && !cur.delivered) await this.#db.put(key, { ...cur, delivered: true });
      }).catch((err: unknown) => this.#log.warn({ err, key }, 'cannot mark exit delivered'));
    };
    if (pending === 0) return; // nobody to tell yet: replayUndelivered() will
    for (const sub of subs) {
      sub.deliver({ exit, done: () => { if (--pending === 0) markDelivered(); } });
    }
  }

  close(): void {
    for (const s of this.#subscribers) s.close();
    this.#subscribers.clear();
  }
}
