// Opens the exit monitor's level database under a root dir (when no sublevel is handed in).
import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import type { ExitDb } from './exit-monitor.js';

export async function openExitDb(dir: string): Promise<{ db: ExitDb; close: () => Promise<void> }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const level = new Level<string, unknown>(dir, { valueEncoding: 'json' });
  await level.open();
  const exits = level.sublevel<string, unknown>('exits', { valueEncoding: 'json' });
  return { db: exits as unknown as ExitDb, close: () => level.close() };
}
