// Small helpers over plain values and settled promises, shared by the layers above.
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Freezes `v` and everything reachable from it (an already frozen object is left as it is). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

/**
 * Like Promise.all, but rejects (with the first failure, in argument order) only once every
 * promise has settled: for steps run side by side that must all be done before any is undone.
 */
export async function settleAll<T extends readonly unknown[]>(promises: readonly [...T]): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/**
 * Writes `file` whole: into `tmp` (default `<file>.tmp`, same directory) and renamed over it, so
 * a reader sees the old content or the new, never a part. The temp file is removed on failure.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: { mode?: number; tmp?: string } = {}): void {
  const tmp = opts.tmp ?? `${file}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: opts.mode ?? 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
