import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WARM_CACHE_EVENT, cacheKey, readCache, runWithCodeCache, writeCache } from './code-cache.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'berth-code-cache-'));
  dirs.push(d);
  return d;
}
const g = globalThis as { __berthCodeCacheProbe?: unknown };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('code cache', () => {
  it('runs a CommonJS file (shebang, require beside it, module) and reuses its cache on the next run', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'dep.js'), 'module.exports = 41;\n');
    const file = path.join(dir, 'main.cjs');
    writeFileSync(file, '#!/usr/bin/env node\nglobalThis.__berthCodeCacheProbe = [require("./dep.js") + 1, __filename, typeof module.exports];\n');
    expect(runWithCodeCache(file, { writeAfterMs: 0 })).toBe('missing');
    expect(g.__berthCodeCacheProbe).toEqual([42, file, 'object']);
    await sleep(50); // the write timer
    expect(readFileSync(`${file}.v8cache`).subarray(0, 14).toString()).toBe('berth-v8cache ');
    g.__berthCodeCacheProbe = undefined;
    expect(runWithCodeCache(file, { writeAfterMs: 0 })).toBe('accepted');
    expect(g.__berthCodeCacheProbe).toEqual([42, file, 'object']);
    expect(runWithCodeCache(file, { useCache: false })).toBe('off');
    delete g.__berthCodeCacheProbe;
  });

  it('rewrites the cache, marked warm, after a start that reloaded pods, and keeps a warm cache', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'main.cjs');
    writeFileSync(file, 'globalThis.__berthCodeCacheProbe = () => 7;\n');
    const keyLine = () => readFileSync(`${file}.v8cache`, 'latin1').split('\n')[0];
    expect(runWithCodeCache(file, { writeAfterMs: 0 })).toBe('missing');
    await sleep(50);
    expect(keyLine()).toBe(cacheKey(file));
    expect(runWithCodeCache(file, { writeAfterMs: 0 })).toBe('accepted');
    await sleep(50);
    expect(keyLine()).toBe(cacheKey(file)); // no pods reloaded: not rewritten
    (process as NodeJS.EventEmitter).emit(WARM_CACHE_EVENT);
    await sleep(50);
    expect(keyLine()).toBe(`${cacheKey(file)} warm`);
    expect(readCache(`${file}.v8cache`, cacheKey(file))).toBeDefined();
    expect(runWithCodeCache(file, { writeAfterMs: 0 })).toBe('accepted');
    rmSync(`${file}.v8cache`);
    (process as NodeJS.EventEmitter).emit(WARM_CACHE_EVENT); // a warm cache is kept as it is
    await sleep(50);
    expect(() => readFileSync(`${file}.v8cache`)).toThrow();
    delete g.__berthCodeCacheProbe;
  });

  it('does not use the cache of an earlier file of the same length', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'main.cjs');
    writeFileSync(file, 'globalThis.__berthCodeCacheProbe = "a";\n');
    runWithCodeCache(file, { writeAfterMs: 0 });
    await sleep(50);
    writeFileSync(file, 'globalThis.__berthCodeCacheProbe = "b";\n'); // same length, new content
    utimesSync(file, new Date(), new Date(Date.now() + 5_000)); // the mtime moves even within one clock tick
    expect(runWithCodeCache(file, { writeAfterMs: 60_000 })).toBe('missing');
    expect(g.__berthCodeCacheProbe).toBe('b');
    delete g.__berthCodeCacheProbe;
  });

  it('keys the cache and ignores a cache of another key', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.cjs');
    writeFileSync(file, '1;\n');
    const key = cacheKey(file);
    expect(key).toContain(process.version);
    const cache = path.join(dir, 'f.cjs.v8cache');
    expect(readCache(cache, key)).toBeUndefined();
    expect(writeCache(cache, key, Buffer.from([1, 2, 3]))).toBe(true);
    expect(readCache(cache, key)).toEqual(Buffer.from([1, 2, 3]));
    expect(readCache(cache, `${key}x`)).toBeUndefined();
    expect(writeCache(path.join(dir, 'missing-dir', 'c'), key, Buffer.alloc(1))).toBe(false);
  });
});
