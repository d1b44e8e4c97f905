// The daemon's dir modes (docs/security.md): root and state 0711, every dir under the root 0700,
// tightened again at each start; a state dir or socket dir placed under the root is left open.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/index.js';
import { secureDaemonDirs } from './root-dirs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const mode = (p: string) => statSync(p).mode & 0o7777;

describe('secureDaemonDirs', () => {
  it('makes root and state 0711, the stores and every other dir under the root 0700, leaving held dirs alone', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'berth-rootdirs-'));
    dirs.push(base);
    const root = path.join(base, 'root');
    const state = path.join(root, 'state');
    mkdirSync(path.join(root, 'leftover'), { recursive: true, mode: 0o755 });
    mkdirSync(path.join(root, 'sock'), { recursive: true, mode: 0o755 });
    chmodSync(path.join(root, 'leftover'), 0o755);
    chmodSync(path.join(root, 'sock'), 0o755);
    await secureDaemonDirs(root, state, [path.join(root, 'cri'), path.join(root, 'images')], silentLogger, [path.join(root, 'sock', 'berth.sock')]);
    expect(mode(root)).toBe(0o711);
    expect(mode(state)).toBe(0o711);
    expect(mode(path.join(root, 'cri'))).toBe(0o700);
    expect(mode(path.join(root, 'images'))).toBe(0o700);
    expect(mode(path.join(root, 'leftover'))).toBe(0o700);
    expect(mode(path.join(root, 'sock'))).toBe(0o755);

    chmodSync(root, 0o777);
    chmodSync(path.join(root, 'cri'), 0o755);
    await secureDaemonDirs(root, state, [path.join(root, 'cri')], silentLogger);
    expect(mode(root)).toBe(0o711);
    expect(mode(path.join(root, 'cri'))).toBe(0o700);
  });
});
