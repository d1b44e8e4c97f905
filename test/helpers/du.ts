// The real `du` (GNU coreutils) as the reference the image layer's kept disk-usage figures are
// checked against: bytes in use (st_blocks * 512) and inodes, hard links counted once across
// all the paths given, each path with everything under it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function total(out: string): number {
  return out.trim().split('\n').filter(Boolean).reduce((n, line) => n + Number(line.split('\t')[0]), 0);
}

export async function du(...paths: string[]): Promise<{ bytes: number; inodes: number }> {
  const [bytes, inodes] = await Promise.all([run('du', ['-s', '-B1', ...paths]), run('du', ['-s', '--inodes', ...paths])]);
  return { bytes: total(bytes.stdout), inodes: total(inodes.stdout) };
}
