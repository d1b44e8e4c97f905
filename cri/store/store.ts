// openStore: the CRI daemon's durable metadata in one level database. Every record is written
// before it becomes visible (docs/architecture.md, "Durable first"); reopening a directory
// restores every record, name and index. Records that cannot be read are logged, skipped and
// reported in `skipped`.
import { Level } from 'level';
import { UnavailableError, isKind, silentLogger, type Logger } from '../../common/index.js';
import { KEYS, decodeContainer, decodeName, decodeSandbox, rangeOf, type Decoded } from './codec.js';
import { NameRegistry } from './names.js';
import { RecordTable } from './record-table.js';
import type { ContainerRecord, NanoTime, SandboxRecord } from './records.js';
import { isSet } from './records.js';

/** Bytes an iterator reads per trip while the store loads (classic-level's default, 16 KiB, is a
 *  trip per 4-5 container records: ~100 trips at 200 pods, each queued behind the start's other
 *  thread-pool work; docs/cri.md "Start-up order"). */
const LOAD_BATCH_BYTES = 4 * 1024 * 1024;

export interface StoreOptions {
  log?: Logger;
  /** fsync every write (default true): a record survives a power cut, not only a crash. */
  sync?: boolean;
}

export interface SkippedRecord {
  readonly key: string;
  readonly id: string;
  readonly reason: string;
}

export interface ExitResult {
  /** Which store held the id ('none': ignored, as containerd ignores exits of unknown ids). */
  readonly target: 'container' | 'sandbox' | 'none';
  /** False when the exit had already been recorded (Wait and TaskExit both report it). */
  readonly recorded: boolean;
}

export class Store {
  readonly sandboxes: RecordTable<SandboxRecord>;
  readonly containers: RecordTable<ContainerRecord>;
  /** Sandbox names (makeSandboxName) -> sandbox ids. */
  readonly sandboxNames: NameRegistry;
  /** Container names (makeContainerName) -> container ids. */
  readonly containerNames: NameRegistry;
  readonly #db: Level<string, string>;
  readonly #bySandbox = new Map<string, Set<string>>();
  #skipped: SkippedRecord[] = [];

  /** @internal use openStore */
  constructor(db: Level<string, string>, sync: boolean) {
    this.#db = db;
    this.sandboxes = new RecordTable<SandboxRecord>(db, { prefix: KEYS.sandbox, what: 'sandbox', sync });
    this.containers = new RecordTable<ContainerRecord>(db, {
      prefix: KEYS.container,
      what: 'container',
      sync,
      hooks: {
        onSet: (next, prev) => {
          if (prev && prev.sandboxId !== next.sandboxId) this.#unindex(prev);
          let ids = this.#bySandbox.get(next.sandboxId);
          if (!ids) this.#bySandbox.set(next.sandboxId, (ids = new Set()));
          ids.add(next.id);
        },
        onDelete: (prev) => this.#unindex(prev),
      },
    });
    this.sandboxNames = new NameRegistry(db, KEYS.sandboxName, sync);
    this.containerNames = new NameRegistry(db, KEYS.containerName, sync);
  }

  /** Records found unreadable at open (corrupt, unknown version): logged and left in level. */
  get skipped(): readonly SkippedRecord[] {
    return this.#skipped;
  }

  /** The containers of one sandbox, in id order. */
  containersOf(sandboxId: string): ContainerRecord[] {
    const ids = this.#bySandbox.get(sandboxId);
    return ids ? [...ids].sort().map((id) => this.containers.get(id)) : [];
  }

  /**
   * Records a task exit (docs/cri.md, Exits). Container: only while FinishedAt is still unset,
   * sets FinishedAt, ExitCode and Pid 0. Sandbox: only while not yet stopped, sets
   * stoppedAt and Pid 0. So Wait and the TaskExit event may both report one exit.
   */
  async recordExit(id: string, exit: { exitCode: number; exitedAt: NanoTime }): Promise<ExitResult> {
    let recorded = false;
    if (this.containers.has(id)) {
      const found = await ignoreRemoved(this.containers.update(id, (c) => {
        if (isSet(c.finishedAt)) return c;
        recorded = true;
        // The daemon stamps startedAt after Start returns; a process that exits at once can carry
        // an exit time a moment earlier. CRI clients expect finishedAt >= startedAt.
        const finishedAt = isSet(c.startedAt) && BigInt(c.startedAt) > BigInt(exit.exitedAt) ? c.startedAt : exit.exitedAt;
        return { ...c, pid: 0, finishedAt, exitCode: exit.exitCode };
      }));
      return { target: found ? 'container' : 'none', recorded };
    }
    if (this.sandboxes.has(id)) {
      const found = await ignoreRemoved(this.sandboxes.update(id, (s) => {
        if (isSet(s.stoppedAt)) return s;
        recorded = true;
        return { ...s, pid: 0, stoppedAt: exit.exitedAt };
      }));
      return { target: found ? 'sandbox' : 'none', recorded };
    }
    return { target: 'none', recorded };
  }

  /** TaskOOM: the container's reason becomes OOMKilled (kept by a later exit). False if no such container. */
  async recordOOM(id: string): Promise<boolean> {
    if (!this.containers.has(id)) return false;
    return ignoreRemoved(this.containers.update(id, (c) => (c.reason === 'OOMKilled' ? c : { ...c, reason: 'OOMKilled' })));
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** @internal */
  async load(log: Logger): Promise<void> {
    // The four tables are read side by side: each read of a batch is a trip through the libuv
    // thread pool, which the image store and the shim reload keep busy at start. Each keeps its
    // own skipped records, reported in table order.
    const each = async <T>(prefix: string, decode: (raw: string, id: string) => Decoded<T>, use: (id: string, r: T) => void) => {
      const skipped: SkippedRecord[] = [];
      for await (const [key, raw] of this.#db.iterator({ ...rangeOf(prefix), highWaterMarkBytes: LOAD_BATCH_BYTES })) {
        const id = key.slice(prefix.length);
        const d = decode(raw, id);
        if (d.ok) use(id, d.record);
        else skipped.push({ key, id, reason: d.reason });
      }
      return skipped;
    };
    const tables = await Promise.all([
      each(KEYS.sandbox, decodeSandbox, (_id, r) => this.sandboxes.restore(r)),
      each(KEYS.container, decodeContainer, (_id, r) => this.containers.restore(r)),
      each(KEYS.sandboxName, decodeName, (name, id) => this.sandboxNames.restore(name, id)),
      each(KEYS.containerName, decodeName, (name, id) => this.containerNames.restore(name, id)),
    ]);
    for (const s of tables.flat()) {
      log.warn({ key: s.key, id: s.id, reason: s.reason }, 'skipping unreadable store record');
      this.#skipped.push(s);
    }
  }

  #unindex(r: ContainerRecord): void {
    const ids = this.#bySandbox.get(r.sandboxId);
    ids?.delete(r.id);
    if (ids?.size === 0) this.#bySandbox.delete(r.sandboxId);
  }
}

// An event for a record removed while the event waited for its lock is ignored, like one for an
// id never seen.
async function ignoreRemoved(update: Promise<unknown>): Promise<boolean> {
  try {
    await update;
    return true;
  } catch (err) {
    if (isKind(err, 'not-found')) return false;
    throw err;
  }
}

/** Opens (creating if needed) the store in `dir` and restores everything in it. */
export async function openStore(dir: string, opts: StoreOptions = {}): Promise<Store> {
  const log = opts.log ?? silentLogger;
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    const why = cause?.code === 'LEVEL_LOCKED' ? 'is in use by another process' : `cannot be opened: ${(err as Error).message}`;
    throw new UnavailableError(`store ${dir} ${why}`, { cause: err });
  }
  const store = new Store(db, opts.sync ?? true);
  try {
    await store.load(log);
  } catch (err) {
    await db.close();
    throw err;
  }
  if (store.skipped.length > 0) log.warn({ skipped: store.skipped.map((s) => s.id) }, 'store opened with unreadable records');
  return store;
}
