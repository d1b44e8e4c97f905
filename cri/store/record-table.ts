// One kind of record (sandboxes or containers): frozen records in memory, written to level
// before they become visible, with a short-id index and per-id serialization.
import type { Level } from 'level';
import { AlreadyExistsError, InvalidArgumentError, KeyedMutex, NotFoundError, deepFreeze } from '../../common/index.js';
import { IdIndex } from './id-index.js';
import { labelsOf, matchesLabels } from './labels.js';
import { RECORD_VERSION, type JsonObject } from './records.js';

interface BaseRecord {
  readonly v: typeof RECORD_VERSION;
  readonly id: string;
  readonly config: JsonObject;
}

export interface TableHooks<T> {
  /** Called after a record became visible (prev undefined on create). */
  onSet?(next: T, prev: T | undefined): void;
  onDelete?(prev: T): void;
}

export class RecordTable<T extends BaseRecord> {
  readonly #db: Level<string, string>;
  readonly #prefix: string;
  readonly #what: string;
  readonly #sync: boolean;
  readonly #hooks: TableHooks<T>;
  readonly #byId = new Map<string, T>();
  readonly #ids = new IdIndex();
  readonly #locks = new KeyedMutex();
  #generation = 0;
  #sorted: readonly T[] | undefined;

  /** @internal built by openStore */
  constructor(db: Level<string, string>, opts: { prefix: string; what: string; sync: boolean; hooks?: TableHooks<T> }) {
    this.#db = db;
    this.#prefix = opts.prefix;
    this.#what = opts.what;
    this.#sync = opts.sync;
    this.#hooks = opts.hooks ?? {};
  }

  /** @internal restore one record read back from level */
  restore(record: T): void {
    this.#show(record, undefined);
  }

  /** Adds a new record, durably. AlreadyExists if the id is taken. */
  create(record: T): Promise<T> {
    return this.#locks.run(record.id, async () => {
      if (this.#byId.has(record.id)) throw new AlreadyExistsError(`${this.#what} ${JSON.stringify(record.id)} already exists`);
      checkShape(record, record.id, this.#what);
      const copy = structuredClone(record);
      await this.#db.put(this.#prefix + record.id, JSON.stringify(copy), { sync: this.#sync });
      return this.#show(copy, undefined);
    });
  }

  /** The record with exactly this id; NotFound otherwise. */
  get(id: string): T {
    const r = this.#byId.get(id);
    if (!r) throw new NotFoundError(`${this.#what} ${JSON.stringify(id)} not found`);
    return r;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Full id for a unique prefix; ambiguous -> InvalidArgument, none -> NotFound. */
  resolveId(prefix: string): string {
    return this.#ids.resolve(prefix, this.#what);
  }

  /**
   * Applies `change` to the current record and stores the result: durably first, then in memory.
   * If `change` throws or the write fails, nothing changes anywhere. Returning the record it was
   * given unchanged (the same object) writes nothing. Calls for one id run one at a time.
   */
  update(id: string, change: (current: T) => T): Promise<T> {
    return this.#locks.run(id, async () => {
      const current = this.get(id);
      const next = change(current);
      if (next === current) return current;
      checkShape(next, id, this.#what);
      const copy = structuredClone(next);
      await this.#db.put(this.#prefix + id, JSON.stringify(copy), { sync: this.#sync });
      return this.#show(copy, current);
    });
  }

  /** Removes a record, durably. Returns false if there was none. */
  delete(id: string): Promise<boolean> {
    return this.#locks.run(id, async () => {
      const prev = this.#byId.get(id);
      if (!prev) return false;
      await this.#db.del(this.#prefix + id, { sync: this.#sync });
      this.#byId.delete(id);
      this.#ids.delete(id);
      this.#changed();
      this.#hooks.onDelete?.(prev);
      return true;
    });
  }

  /** Every record (optionally those matching `filter`), in id order. */
  list(filter?: (record: T) => boolean): T[] {
    // Sorted once per change: kubelet lists every second and the records rarely change between.
    this.#sorted ??= Object.freeze([...this.#byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    return filter ? this.#sorted.filter(filter) : this.#sorted.slice();
  }

  /** Grows by one at every change of the visible records (create, update, delete, restore). */
  get generation(): number {
    return this.#generation;
  }

  /** Records whose CRI config labels include every pair of `selector`. */
  listByLabels(selector: Readonly<Record<string, string>>): T[] {
    return this.list((r) => matchesLabels(labelsOf(r), selector));
  }

  get size(): number {
    return this.#byId.size;
  }

  #changed(): void {
    this.#generation++;
    this.#sorted = undefined;
  }

  #show(record: T, prev: T | undefined): T {
    const frozen = deepFreeze(record);
    this.#byId.set(frozen.id, frozen);
    this.#ids.add(frozen.id);
    this.#changed();
    this.#hooks.onSet?.(frozen, prev);
    return frozen;
  }
}

function checkShape(r: BaseRecord, id: string, what: string): void {
  if (r.id !== id || r.v !== RECORD_VERSION || typeof r.config !== 'object' || r.config === null) {
    throw new InvalidArgumentError(`${what} ${JSON.stringify(id)}: a record must keep its id and version ${RECORD_VERSION} and have a config`);
  }
}
