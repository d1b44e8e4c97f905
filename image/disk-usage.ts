// Disk usage as `du` counts it: st_blocks * 512 bytes and one inode per entry, a file with several
// hard links counted once. A tree is measured when it is made (a layer unpacked, a container's rw
// snapshot prepared) and when a container's upper dir is asked for; ImageFsInfo only adds up
// the figures kept (docs/images.md "Disk usage").
import { lstatSync, readdirSync, type Stats } from 'node:fs';

export interface Usage {
  readonly bytes: number;
  readonly inodes: number;
}

export const NO_USAGE: Usage = Object.freeze({ bytes: 0, inodes: 0 });

export function addUsage(a: Usage, b: Usage): Usage {
  return { bytes: a.bytes + b.bytes, inodes: a.inodes + b.inodes };
}

/** A figure and when it was taken (ms since the epoch). */
export interface Measured {
  readonly usage: Usage;
  readonly at: number;
}

/** Entries measured between two yields to the event loop (about 1 ms of lstat calls). */
const SLICE = 256;

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES: an entry that changed under the walk
  }
}

/** The entry `p` alone (a directory without its children); NO_USAGE when it is missing. */
export function entryUsage(p: string): Usage {
  const st = lstatOrUndefined(p);
  return st ? { bytes: st.blocks * 512, inodes: 1 } : NO_USAGE;
}

/**
 * `du` of `root`: the entry itself and everything under it. The syscalls are synchronous (an
 * lstat costs a few µs that way, ten times less than through libuv's thread pool), in slices
 * of SLICE entries with a yield between, so a big tree never holds the event loop for long.
 * Entries that vanish meanwhile are skipped; a missing root measures NO_USAGE.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const linked = new Set<string>(); // dev:ino of the multiply linked files seen
  const stack = [root];
  let bytes = 0;
  let inodes = 0;
  for (let n = 1; stack.length > 0; n++) {
    const p = stack.pop()!;
    const st = lstatOrUndefined(p);
    if (st && !(st.nlink > 1 && !st.isDirectory() && seenBefore(linked, st))) {
      bytes += st.blocks * 512;
      inodes++;
      if (st.isDirectory()) {
        let names: string[] = [];
        try {
          names = readdirSync(p);
        } catch {
          // removed meanwhile
        }
        for (const name of names) stack.push(`${p}/${name}`);
      }
    }
    if (n % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
  }
  return { bytes, inodes };
}

function seenBefore(linked: Set<string>, st: Stats): boolean {
  const key = `${st.dev}:${st.ino}`;
  if (linked.has(key)) return true;
  linked.add(key);
  return false;
}
