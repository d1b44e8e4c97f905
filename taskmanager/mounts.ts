// Mount points under a directory (from /proc/self/mountinfo) and their removal, deepest first.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every mount point at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = unescapeMountPath(fields[4]!);
    if (mp === root || mp.startsWith(root + '/')) points.add(mp);
  }
  return [...points].sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (lazily when busy). */
export async function unmountAll(dir: string): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const mp of points) {
      try {
        await execFileAsync('umount', [mp], { timeout: 5_000 });
      } catch {
        await execFileAsync('umount', ['-l', mp], { timeout: 5_000 }).catch(() => undefined);
      }
    }
  }
}
