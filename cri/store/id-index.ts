// Short-id lookup like containerd's truncindex: any unique prefix of an id names it.
import { InvalidArgumentError, NotFoundError } from '../../common/index.js';

export class IdIndex {
  // Sorted, so the ids sharing a prefix are neighbours found by one binary search.
  #ids: string[] = [];

  add(id: string): void {
    const i = this.#lowerBound(id);
    if (this.#ids[i] !== id) this.#ids.splice(i, 0, id);
  }

  delete(id: string): void {
    const i = this.#lowerBound(id);
    if (this.#ids[i] === id) this.#ids.splice(i, 1);
  }

  /** The full id for `prefix` (an exact id always wins). `what` names the kind in errors. */
  resolve(prefix: string, what: string): string {
    if (prefix === '') throw new InvalidArgumentError(`${what} id must not be empty`);
    const i = this.#lowerBound(prefix);
    const first = this.#ids[i];
    if (first === undefined || !first.startsWith(prefix)) {
      throw new NotFoundError(`${what} ${JSON.stringify(prefix)} not found`);
    }
    if (first === prefix) return first;
    const second = this.#ids[i + 1];
    if (second !== undefined && second.startsWith(prefix)) {
      throw new InvalidArgumentError(
        `ambiguous id: ${what} id prefix ${JSON.stringify(prefix)} matches ${JSON.stringify(first)} and ${JSON.stringify(second)}`,
      );
    }
    return first;
  }

  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ids[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
