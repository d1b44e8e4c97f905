// The slice of a level sublevel that image/ uses: JSON values under string keys.
import type { Level } from 'level';

/** The level database callers hand to image/ (`new Level(path, { valueEncoding: 'json' })`). */
export type ImageDb = Level<string, unknown>;

export interface JsonTable<V> {
  get(key: string): Promise<V | undefined>;
  put(key: string, value: V): Promise<void>;
  del(key: string): Promise<void>;
  iterator(): AsyncIterable<[string, V]>;
}

export function jsonTable<V>(db: ImageDb, name: string): JsonTable<V> {
  return db.sublevel<string, V>(name, { valueEncoding: 'json' }) as unknown as JsonTable<V>;
}
