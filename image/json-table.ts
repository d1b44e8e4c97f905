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

/** Bytes an iterator reads per trip through the thread pool (classic-level's default is 16 KiB).
 *  Every iteration here loads a whole table when the image store opens, on a restart's critical
 *  path (docs/cri.md "Start-up order"). */
const LOAD_BATCH_BYTES = 4 * 1024 * 1024;

export function jsonTable<V>(db: ImageDb, name: string): JsonTable<V> {
  const sub = db.sublevel<string, V>(name, { valueEncoding: 'json' });
  // classic-level reads highWaterMarkBytes; a sublevel hands its iterator options on to it, but
  // its types do not list the option.
  const batched = { highWaterMarkBytes: LOAD_BATCH_BYTES } as Parameters<typeof sub.iterator>[0];
  return {
    get: (key) => sub.get(key),
    put: (key, value) => sub.put(key, value),
    del: (key) => sub.del(key),
    iterator: () => sub.iterator(batched) as unknown as AsyncIterable<[string, V]>,
  };
}
