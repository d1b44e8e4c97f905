// The daemon side of a process's stdio FIFOs: misuse of a handed-out stream is logged, never an
// uncaught 'error' event (which would end the daemon).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../common/index.js';
import { closeStdio, createStdio, reopenStdio, type ProcessStdio } from './stdio.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg); } } });
  return { log, warnings };
}

async function ioDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-stdio-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('task stdio', () => {
  it('logs a write to an ended stdin instead of crashing the daemon', async () => {
    const dir = await ioDir();
    const { log, warnings } = recordingLogger();
    const stdio: ProcessStdio = await createStdio(dir, '', { stdin: true }, log);
    cleanups.push(() => closeStdio(stdio));
    expect(await readdir(dir)).toEqual(['init-stderr', 'init-stdin', 'init-stdout']);
    stdio.stdin!.end(); // what closeIO does
    stdio.stdin!.write('too late\n');
    // Without a listener this 'error' would be uncaught and vitest would fail the run.
    await expect.poll(() => warnings).toEqual(['task stdio stream error']);
  });

  it('guards the streams reopened after a restart too', async () => {
    const dir = await ioDir();
    const first = await createStdio(dir, 'x1', { stdin: true });
    closeStdio(first);
    const { log, warnings } = recordingLogger();
    const again = await reopenStdio(dir, 'x1', log);
    cleanups.push(() => closeStdio(again));
    expect(again.paths.stdin).toBe(path.join(dir, 'exec-x1-stdin'));
    again.stdin!.end();
    again.stdin!.write('too late\n');
    await expect.poll(() => warnings).toEqual(['task stdio stream error']);
  });
});
