// Single-use tokens for cached streaming requests, as containerd's stream server keeps them:
// 8 characters of unpadded URL-safe base64 from random bytes, valid for one minute, at most
// 1000 outstanding. Expired entries are dropped lazily on every insert and lookup.
import { BerthError, randomBytes } from '../../common/index.js';

export interface TokenCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
  now?: () => number;
}

export class TokenCache<T> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  // Map keeps insertion order, which is also expiry order (one fixed TTL).
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(opts: TokenCacheOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#max = opts.maxInFlight ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    this.#evictExpired();
    return this.#entries.size;
  }

  insert(value: T): string {
    this.#evictExpired();
    if (this.#entries.size >= this.#max) {
      throw new BerthError('resource-exhausted', `maximum number of in-flight streaming requests (${this.#max}) exceeded`);
    }
    let token = newToken();
    while (this.#entries.has(token)) token = newToken();
    this.#entries.set(token, { value, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /** Returns the value once; unknown, used and expired tokens give undefined. */
  consume(token: string): T | undefined {
    this.#evictExpired();
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    return entry.value;
  }

  #evictExpired(): void {
    const now = this.#now();
    for (const [token, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(token);
    }
  }
}

/** 6 random bytes encode to exactly 8 base64url characters, no padding. */
function newToken(): string {
  return randomBytes(6).toString('base64url');
}
