// Runs the daemon bundle (berth-daemon.cjs, cli/bundle.ts) for the `berth` executable
// (dist/cli/berth.cjs, cli/daemon-loader.ts) through a V8 code cache, as Node 22's
// module.enableCompileCache() would. V8 otherwise parses and compiles the 2 MB bundle at every start, and a restart is on the critical
// path (pods are unmanaged until the daemon serves again).
//
// Cache: `<bundle>.v8cache`, one key line, then V8's data. The key names the bundle's size,
// mtime and inode and the Node version and arch: V8 itself checks only its version, flags and the
// source LENGTH, so a rebuilt bundle of the same length must not meet the old cache. A missing,
// stale or rejected cache costs one normal compile; the cache is then (re)written 2 s after
// start, when the start-up code has run and is compiled too, atomically (temp file + rename), or
// not at all when the directory is read-only. BERTH_NO_CODE_CACHE=1 skips it entirely.
// A first start has no pods, so its cache misses the restart path (shim reload, recovery, the
// first lists): V8 compiles those functions lazily at every restart. The daemon emits
// WARM_CACHE_EVENT once a start reloaded pods; a cache not yet written after such a start is then
// rewritten 2 s later with the functions compiled by then, its key line marked ` warm`, and kept.
import { readFileSync, statSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
// objects.js directly: this loader runs before the code cache and must stay small.
import { writeFileAtomicSync } from '../common/objects.js';

/** The daemon bundle's file name, beside the loader. */
export const DAEMON_MAIN_NAME = 'berth-daemon.cjs';
/** process event the daemon emits once a start has reloaded pods (cli/berth.ts). */
export const WARM_CACHE_EVENT = 'berth:restart-path-compiled';
const WARM = ' warm';
const WRITE_AFTER_MS = 2_000;

type CjsWrapper = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

export function cacheKey(file: string): string {
  const st = statSync(file);
  return `berth-v8cache ${process.version} ${process.arch} ${st.size} ${st.mtimeMs} ${st.ino}`;
}

/** The cached data for `key` in `cacheFile`, or undefined (missing, unreadable, other key). */
export function readCache(cacheFile: string, key: string): Buffer | undefined {
  return readCacheEntry(cacheFile, key)?.data;
}

/** The cached data for `key` and whether it was written after a start that reloaded pods. */
export function readCacheEntry(cacheFile: string, key: string): { data: Buffer; warm: boolean } | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const nl = buf.indexOf(0x0a);
  const line = nl < 0 ? '' : buf.subarray(0, nl).toString('latin1');
  if (line !== key && line !== `${key}${WARM}`) return undefined;
  return { data: buf.subarray(nl + 1), warm: line !== key };
}

/** Writes `data` under `key`, atomically; false when it cannot (read-only install). */
export function writeCache(cacheFile: string, key: string, data: Buffer): boolean {
  try {
    writeFileAtomicSync(cacheFile, Buffer.concat([Buffer.from(`${key}\n`, 'latin1'), data]), { mode: 0o644, tmp: `${cacheFile}.${process.pid}.tmp` });
    return true;
  } catch {
    return false;
  }
}

export type CacheUse = 'accepted' | 'rejected' | 'missing' | 'off';

/** Compiles and runs the CommonJS file `file` with a code cache beside it; says what became of the cache. */
export function runWithCodeCache(file: string, opts: { useCache?: boolean; writeAfterMs?: number } = {}): CacheUse {
  const useCache = opts.useCache ?? true;
  const cacheFile = `${file}.v8cache`;
  const key = useCache ? cacheKey(file) : '';
  const entry = useCache ? readCacheEntry(cacheFile, key) : undefined;
  const cachedData = entry?.data;
  // The bundle is ASCII (cli/bundle.test.ts): latin1 skips UTF-8 decoding.
  let source = readFileSync(file, 'latin1');
  // Wrapped in a function, a `#!` line is no longer the script's first: keep it as a comment.
  if (source.startsWith('#!')) source = `//${source.slice(2)}`;
  const script = new vm.Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const writeLater = (line: string) => {
    setTimeout(() => writeCache(cacheFile, line, script.createCachedData()), opts.writeAfterMs ?? WRITE_AFTER_MS).unref();
  };
  if (useCache && (!cachedData || script.cachedDataRejected === true)) writeLater(key);
  if (useCache && !(entry?.warm === true && script.cachedDataRejected !== true)) process.once(WARM_CACHE_EVENT, () => writeLater(`${key}${WARM}`));
  const fn = script.runInThisContext() as CjsWrapper;
  const mod = { exports: {} };
  fn.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  if (!useCache) return 'off';
  if (!cachedData) return 'missing';
  return script.cachedDataRejected === true ? 'rejected' : 'accepted';
}
