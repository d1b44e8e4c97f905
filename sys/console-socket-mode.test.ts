// The console socket a shim listens on for runc's pty master is root-only (docs/security.md).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleSocket } from './index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('console socket mode', () => {
  it('is 0600 whatever the umask', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-console-mode-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const old = process.umask(0);
    let cs: ConsoleSocket;
    try {
      cs = await ConsoleSocket.listen(path.join(dir, 'pty.sock'));
    } finally {
      process.umask(old);
    }
    cleanups.push(() => cs.close());
    expect(statSync(path.join(dir, 'pty.sock')).mode & 0o777).toBe(0o600);
  });
});
