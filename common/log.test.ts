import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleEntry } from '../test/helpers/bundle.js';
import { createLogger, silentLogger } from './index.js';

describe('loggers', () => {
  it('silentLogger behaves as a silent pino logger', () => {
    expect(silentLogger.level).toBe('silent');
    expect(silentLogger.isLevelEnabled('error')).toBe(false);
    expect(silentLogger.info).toBe(silentLogger.info); // bound once
    expect(() => silentLogger.error({ err: new Error('x') }, 'dropped')).not.toThrow();
    const child = silentLogger.child({ id: 'c1' });
    expect(child.level).toBe('silent');
    expect(child.bindings()).toEqual({ id: 'c1' });
    expect('warn' in silentLogger).toBe(true);
  });

  it('createLogger writes JSON lines to a destination', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', name: 'n', destination: { write: (l: string) => void lines.push(l) } });
    log.info('not shown');
    log.child({ id: 'x' }).warn('shown');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([expect.objectContaining({ name: 'n', id: 'x', msg: 'shown', level: 40 })]);
  });

  it('importing common (bundled, as the shim is) evaluates no pino until a logger is used', async () => {
    const entry = await bundleEntry('common/index.ts');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-log-'));
    try {
      const script = path.join(dir, 'probe.mjs');
      writeFileSync(script, [
        "import { createRequire } from 'node:module';",
        'const require = createRequire(import.meta.url);',
        "const pino = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/pino/'));",
        "const worker = () => process.moduleLoadList.includes('NativeModule worker_threads');",
        `const common = await import(${JSON.stringify(entry)});`,
        'const before = { pino: pino(), worker: worker() };',
        "common.silentLogger.child({ a: 1 }).info('x');",
        'console.log(JSON.stringify({ before, after: { pino: pino(), worker: worker() } }));',
      ].join('\n'));
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      // pino's own evaluation pulls in worker_threads (thread-stream): neither happens at import
      expect(JSON.parse(r.stdout)).toEqual({ before: { pino: false, worker: false }, after: { pino: true, worker: true } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(entry, { force: true });
    }
  });
});
