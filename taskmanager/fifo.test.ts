// makeFifo calls mkfifo(3) itself (no mkfifo process per FIFO): the mode is exact whatever the
// umask, an existing FIFO is kept, anything else at the path is an error and stays untouched.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeFifo, openFifoReader } from './fifo.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-fifo-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('makeFifo', () => {
  it('makes a FIFO with exactly the mode asked for, under any umask', async () => {
    const old = process.umask(0o077);
    try {
      await makeFifo(path.join(dir, 'a'), 0o644);
      await makeFifo(path.join(dir, 'b'));
    } finally {
      process.umask(old);
    }
    const a = statSync(path.join(dir, 'a'));
    expect(a.isFIFO()).toBe(true);
    expect(a.mode & 0o777).toBe(0o644);
    expect(statSync(path.join(dir, 'b')).mode & 0o777).toBe(0o700);
  });

  it('keeps a FIFO that exists (and data in it); refuses a regular file', async () => {
    const p = path.join(dir, 'f');
    await makeFifo(p);
    const r = openFifoReader(p);
    try {
      await makeFifo(p);
      expect(statSync(p).isFIFO()).toBe(true);
    } finally {
      r.destroy();
    }
    const file = path.join(dir, 'file');
    writeFileSync(file, 'x');
    await expect(makeFifo(file)).rejects.toThrow(/exists and is not a FIFO/);
    expect(statSync(file).isFile()).toBe(true);
  });

  it('fails with the errno when the directory does not exist', async () => {
    await expect(makeFifo(path.join(dir, 'no', 'such'))).rejects.toThrow(/mkfifo .* failed: .*ENOENT/);
  });
});
