import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isKind } from '../common/index.js';
import { becomeSubreaper, ConsoleSocket, getWinsize, openPty, Reaper, resizePty, type PtyStreams } from './index.js';
import { TestContainer } from './testdata/runc-bundle.js';

const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => becomeSubreaper());

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function waitFor(out: Readable, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (re.test(seen)) {
        out.off('data', onData);
        resolve(seen);
      }
    };
    out.on('data', onData);
    out.once('end', () => reject(new Error(`pty ended before ${re}: ${JSON.stringify(seen)}`)));
  });
}

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-console-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('console socket', () => {
  it('receives the pty master from runc, drives an interactive shell and resizes it', async () => {
    const reaper = new Reaper();
    cleanups.push(() => reaper.close());
    const ctr = new TestContainer({ args: ['sh'], terminal: true, reaper });
    cleanups.push(() => ctr.destroy());
    const cs = await ConsoleSocket.listen(path.join(tempDir(), 'console.sock'));
    cleanups.push(() => cs.close());

    const [, master] = await Promise.all([ctr.create(cs.path), cs.receiveMaster({ timeoutMs: 20_000 })]);
    let pty: PtyStreams | undefined = openPty(master);
    cleanups.push(() => pty?.close());
    resizePty(master, { rows: 33, cols: 101 });
    expect(getWinsize(master)).toEqual({ rows: 33, cols: 101 });
    await ctr.runc('start', ctr.id);

    pty.input.write('echo h""i\n');
    await waitFor(pty.output, /\r?\nhi\r?\n/);
    pty.input.write('stty size\n');
    await waitFor(pty.output, /33 101/);
    resizePty(master, { rows: 40, cols: 120 });
    pty.input.write('stty size\n');
    await waitFor(pty.output, /40 120/);

    const ended = new Promise<void>((r) => pty?.output.once('end', () => r()));
    pty.output.resume();
    pty.input.write('exit 4\n');
    expect((await ctr.exited)?.status).toBe(4);
    await ended; // EIO on the master reads as EOF
    pty.close();
    pty = undefined;
  });

  it('rejects with deadline-exceeded when nothing arrives, and with an error for a message without fd', async () => {
    const cs = await ConsoleSocket.listen(path.join(tempDir(), 'console.sock'));
    cleanups.push(() => cs.close());
    const e1 = await cs.receiveMaster({ timeoutMs: 50 }).catch((e: unknown) => e);
    expect(isKind(e1, 'deadline-exceeded')).toBe(true);
    const c = net.connect(cs.path, () => c.end('/dev/ptmx'));
    c.on('error', () => undefined); // the server hangs up after one message
    const e2 = await cs.receiveMaster({ timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(isKind(e2, 'invalid-argument')).toBe(true);
  });

  it('refuses an invalid size', () => {
    expect(() => resizePty(0, { rows: -1, cols: 10 })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});
