// A process's proportional set size (its private pages plus its share of the pages it shares with
// other processes), as the kernel sums it in /proc/<pid>/smaps_rollup.
import { readFile } from 'node:fs/promises';

/** PSS in bytes; undefined when the process is gone or its smaps cannot be read. */
export async function readPss(pid: number | 'self'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined; // exited between listing and reading
  }
  const m = /^Pss:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}
