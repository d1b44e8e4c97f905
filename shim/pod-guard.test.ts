import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../common/index.js';
import { Reaper } from '../sys/index.js';
import { PodGuard } from './pod-guard.js';
import type { Container } from './container.js';

const fakeContainer = (id: string) => ({ id, runc: { opts: { binary: 'runc', root: '/nonexistent' } } }) as unknown as Container;

describe('PodGuard', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

  it('writes the kill list, and never again after dismiss (no file left behind)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-guard-'));
    const reaper = new Reaper({ reapOrphans: false });
    cleanups.push(() => { reaper.close(); rmSync(dir, { recursive: true, force: true }); });
    const list = path.join(dir, 'sock.pod');
    const guard = new PodGuard(list, reaper, silentLogger);
    expect(guard.started).toBe(false); // no sentinel until there is something to guard
    guard.update([fakeContainer('a')]);
    expect(guard.started).toBe(true);
    expect(existsSync(list)).toBe(true);
    guard.dismiss();
    expect(existsSync(list)).toBe(false);
    // A Delete that completes during shutdown reports the changed container list.
    guard.update([]);
    expect(existsSync(list)).toBe(false);
    // The sentinel got "exit" and leaves; give it a moment, then nothing is there.
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(list)).toBe(false);
  });
});
