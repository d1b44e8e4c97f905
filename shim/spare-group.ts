// The group a warm spare server belongs to (shim/spare.ts): the pod servers of one (containerd
// address, namespace) started by the launcher. Each registers itself, once it serves, as
// `<spares>/servers/<pid>` (address, namespace and its start time in clock ticks, so a reused pid
// is not mistaken for it) and removes the entry when it exits; a spare lives only while one of
// them does. Small and synchronous: the server loads it on its start path.
import { lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../common/index.js';
import { socketDir } from './socket-address.js';

/** The env var the launcher sets for the servers it starts: the spare root (empty: spares off). */
export const SPARES_ENV = 'BERTH_SHIM_SPARES';
/** Where the spares of one socket dir live: root-only, created by the launcher. */
const SPARES_DIR_NAME = 'berth-spares';

/** `<socket dir>/berth-spares`. */
function sparesRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(socketDir(env), SPARES_DIR_NAME);
}

/**
 * The spare root named by `value` if it is ours to use: exactly `<socket dir>/berth-spares`, a
 * real directory (no symlink) owned by this user and closed to everyone else. `create`: made
 * (0700) if missing, as the first server of a node finds it.
 */
export function trustedSparesRoot(value: string | undefined, create = false): string | undefined {
  const root = sparesRoot();
  if (!value || path.resolve(value) !== root) return undefined;
  if (create) {
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
    } catch {
      return undefined;
    }
  }
  const st = lstatSync(root, { throwIfNoEntry: false }); // lstat: a symlink is not a directory
  if (!st?.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return undefined;
  return root;
}

/** `/proc/<pid>/stat` field 22 (start time), undefined when the process is gone. */
function processStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Registers this process as a pod server of (address, namespace); returns the unregister step. */
export function registerServer(root: string, address: string, namespace: string): () => void {
  const dir = path.join(root, 'servers');
  const file = path.join(dir, String(process.pid));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // written whole (temp + rename): a spare never reads half an entry
  writeFileAtomicSync(file, `${address}\n${namespace}\n${processStartTime('self') ?? ''}\n`);
  return () => rmSync(file, { force: true });
}

/**
 * Whether a registered pod server of (address, namespace) is alive. `hint` (a pid found alive
 * before) is checked first, so a steady poll reads one file; entries of dead servers are removed.
 */
export function liveServer(root: string, address: string, namespace: string, hint?: number): number | undefined {
  const dir = path.join(root, 'servers');
  const check = (name: string): boolean => {
    const file = path.join(dir, name);
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      return false;
    }
    const started = processStartTime(Number(name));
    if (!started || started !== lines[2]) {
      rmSync(file, { force: true });
      return false;
    }
    return lines[0] === address && lines[1] === namespace;
  };
  if (hint !== undefined && check(String(hint))) return hint;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) if (/^\d+$/.test(name) && check(name)) return Number(name);
  return undefined;
}
