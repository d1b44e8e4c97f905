import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../test/helpers/bundle.js';
import fs from 'node:fs/promises';
import { silentLogger } from '../common/index.js';
import { Unpacker } from '../image/unpacker.js';
import { makeLayer } from '../test/fixtures/oci-image.js';
import { DAEMON_BUNDLE_NAME, UNPACK_WORKER_BUNDLE_NAME, bundleDaemon } from './bundle.js';
import { DAEMON_MAIN_NAME } from './code-cache.js';

// The bundle lives under the project (node_modules/.cache) so its external packages resolve.
const dir = mkdtempSync(path.join(projectRoot, 'node_modules/.cache/berth-daemon-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('daemon bundle', () => {
  it('is one ASCII-only CommonJS file that runs through the loader', async () => {
    const file = await bundleDaemon(projectRoot, path.join(dir, DAEMON_BUNDLE_NAME));
    const bytes = readFileSync(path.join(dir, DAEMON_MAIN_NAME));
    // One non-ASCII byte makes Node decode, and V8 scan, all of it as a two-byte string.
    const at = bytes.findIndex((b) => b > 0x7f);
    expect(at, at < 0 ? '' : `non-ASCII at ${at}: ${bytes.subarray(Math.max(0, at - 60), at + 20).toString()}`).toBe(-1);
    // The loader compiles it with vm.Script, which has no dynamic import() without a callback.
    expect(bytes.toString('latin1')).not.toMatch(/[^\w$.]import\(/);
    expect(readFileSync(file).subarray(0, 20).toString()).toBe('#!/usr/bin/env node\n');
    const r = spawnSync(process.execPath, [file, '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('--address <path>');
  }, 60_000);

  it('has the unpack worker beside it, which applies a layer on a worker thread', async () => {
    const worker = path.join(dir, UNPACK_WORKER_BUNDLE_NAME);
    const bytes = readFileSync(worker);
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1);
    const l = await makeLayer([{ name: 'hello', content: 'world' }]);
    await fs.writeFile(path.join(dir, 'layer.tgz'), l.data);
    await fs.mkdir(path.join(dir, 'root'));
    const unpacker = new Unpacker({ script: worker, log: silentLogger });
    try {
      await unpacker.ready();
      expect((await unpacker.apply(path.join(dir, 'root'), { file: path.join(dir, 'layer.tgz') }, 'gzip')).diffId).toBe(l.diffId);
      expect(readFileSync(path.join(dir, 'root', 'hello'), 'utf8')).toBe('world');
    } finally {
      await unpacker.close();
    }
  }, 60_000);
});
