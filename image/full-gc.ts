// One full garbage collection on demand, for the moment a burst of pulls has ended: the network
// buffers a pull went through (each read a fresh ArrayBuffer) are dead but stay allocated until
// V8 runs a full GC, which an idle daemon may not do for minutes (60-95 MiB still held 35 s after
// a 52 MB pull); malloc_trim can only hand back what is freed. docs/images.md "Pull CPU".
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/**
 * V8's full GC of this thread's heap, or undefined where V8 offers no way (looked up once; the
 * daemon's idle release, cli/daemon-memory.ts, uses the same). `--expose-gc` set now puts `gc`
 * only in contexts made after it: one throwaway context is made to fetch it, the daemon's own
 * global gets nothing.
 */
export function fullGcFunction(): (() => void) | undefined {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      gc = typeof fn === 'function' ? (fn as () => void) : null;
    } catch {
      gc = null;
    }
  }
  return gc ?? undefined;
}

/** Runs a full GC of this thread's heap and returns true, or returns false where V8 offers no way. */
export function fullGc(): boolean {
  const fn = fullGcFunction();
  fn?.();
  return fn !== undefined;
}
