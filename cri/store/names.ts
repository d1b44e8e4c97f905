// Name reservations (containerd's registrar): one-to-one name <-> id, persisted so a restart
// keeps them. kubelet matches "is reserved for" in the AlreadyExists message.
import type { Level } from 'level';
import { AlreadyExistsError, KeyedMutex } from '../../common/index.js';

export interface SandboxNameParts {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt: number;
}

/** containerd's makeSandboxName: `<name>_<namespace>_<uid>_<attempt>`. */
export function makeSandboxName(m: SandboxNameParts): string {
  return [m.name, m.namespace, m.uid, String(m.attempt)].join('_');
}

/** containerd's makeContainerName: `<name>_<sandbox name>_<sandbox namespace>_<sandbox uid>_<attempt>`. */
export function makeContainerName(c: { readonly name: string; readonly attempt: number }, sandbox: SandboxNameParts): string {
  return [c.name, sandbox.name, sandbox.namespace, sandbox.uid, String(c.attempt)].join('_');
}

type Db = Level<string, string>;

export class NameRegistry {
  readonly #db: Db;
  readonly #prefix: string;
  readonly #sync: boolean;
  readonly #idOf = new Map<string, string>();
  readonly #nameOf = new Map<string, string>();
  // Level writes for one name happen in call order.
  readonly #locks = new KeyedMutex();

  /** @internal built by openStore */
  constructor(db: Db, prefix: string, sync: boolean) {
    this.#db = db;
    this.#prefix = prefix;
    this.#sync = sync;
  }

  /** @internal restore one persisted reservation */
  restore(name: string, id: string): void {
    this.#idOf.set(name, id);
    this.#nameOf.set(id, name);
  }

  /** Reserves `name` for `id`. Idempotent for the same pair; AlreadyExists if either side is taken. */
  async reserve(name: string, id: string): Promise<void> {
    const holder = this.#idOf.get(name);
    if (holder === id) return;
    if (holder !== undefined) throw new AlreadyExistsError(`name ${JSON.stringify(name)} is reserved for ${JSON.stringify(holder)}`);
    const held = this.#nameOf.get(id);
    if (held !== undefined) throw new AlreadyExistsError(`id ${JSON.stringify(id)} already holds name ${JSON.stringify(held)}`);
    // Claim in memory before the write so a concurrent reserve of the same name is refused;
    // a failed write gives the claim back.
    this.restore(name, id);
    await this.#locks.run(name, async () => {
      try {
        await this.#db.put(this.#prefix + name, JSON.stringify({ v: 1, id }), { sync: this.#sync });
      } catch (err) {
        this.#forget(name, id);
        throw err;
      }
    });
  }

  /** Releases `name` (no-op when not reserved). */
  async release(name: string): Promise<void> {
    await this.#locks.run(name, async () => {
      const id = this.#idOf.get(name);
      if (id === undefined) return;
      await this.#db.del(this.#prefix + name, { sync: this.#sync });
      this.#forget(name, id);
    });
  }

  /** Releases whatever name `id` holds (no-op when none). */
  async releaseById(id: string): Promise<void> {
    const name = this.#nameOf.get(id);
    if (name !== undefined) await this.release(name);
  }

  idOf(name: string): string | undefined {
    return this.#idOf.get(name);
  }

  nameOf(id: string): string | undefined {
    return this.#nameOf.get(id);
  }

  entries(): [name: string, id: string][] {
    return [...this.#idOf.entries()];
  }

  #forget(name: string, id: string): void {
    if (this.#idOf.get(name) === id) this.#idOf.delete(name);
    if (this.#nameOf.get(id) === name) this.#nameOf.delete(id);
  }
}
