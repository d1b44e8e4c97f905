// Pod network namespaces, pinned by a bind mount at <state>/netns/<sandbox id> (docs/network.md), so
// they outlive the pause process and a restarted daemon finds them by id. Node cannot unshare one
// of its own threads safely, so util-linux `unshare --net=<file>` makes and pins the namespace.
import { realpathSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AlreadyExistsError, InternalError, joinWithin, validateIdentifier } from '../../common/index.js';
import { isErrno, readMountInfo, runProcess, umount2, MNT_DETACH } from '../../sys/index.js';

const TOOL_TIMEOUT_MS = 10_000;
const BUSY_RETRIES = 5;
const BUSY_RETRY_MS = 100;

/** The pinned netns path of a sandbox: `<stateDir>/netns/<id>`. */
export function netnsPath(stateDir: string, sandboxId: string): string {
  return joinWithin(stateDir, 'netns', validateIdentifier(sandboxId, 'sandbox id'));
}

/** True when `path` is a mount point of an nsfs (a pinned namespace). */
export function isNetns(path: string): boolean {
  const target = resolved(path);
  return readMountInfo().some((m) => m.mountPoint === target && m.fsType === 'nsfs');
}

function resolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Creates a new network namespace pinned at `<stateDir>/netns/<id>` with `lo` up; returns its
 * path. The one-argument form `createNetns(path)` pins at an explicit path (the daemon's first
 * helper used that shape). An existing file is refused (AlreadyExists from the O_EXCL create).
 */
export async function createNetns(stateDirOrPath: string, id?: string): Promise<string> {
  const path = id === undefined ? stateDirOrPath : netnsPath(stateDirOrPath, id);
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  try {
    await writeFile(path, '', { flag: 'wx', mode: 0o444 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AlreadyExistsError(`network namespace ${path} already exists`, { cause: e });
    }
    throw e;
  }
  try {
    // One process chain: unshare pins the new namespace, then runs `ip` inside it.
    // Through sys/spawner.ts (posix_spawn, no fork of the daemon): it is on the pod start path.
    const r = await runProcess({ file: 'unshare', args: [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], timeoutMs: TOOL_TIMEOUT_MS });
    if (r.code !== 0) {
      const why = r.timedOut ? `timed out after ${TOOL_TIMEOUT_MS} ms` : `exit status ${r.code ?? r.signal}`;
      throw new Error(r.stderr.toString('utf8').trim() || why);
    }
  } catch (err) {
    await removeNetns(path);
    throw new InternalError(`cannot create network namespace ${path}: ${(err as Error).message}`, { cause: err });
  }
  return path;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Unpins and deletes a netns; a missing file is success, a file that is not a namespace is just
 * deleted. A busy mount is retried a few times, then detached lazily (the namespace then lives
 * until its last user goes, which is what the kernel allows).
 */
export async function removeNetns(path: string): Promise<void> {
  for (let attempt = 0; isNetns(path); attempt++) {
    try {
      umount2(path, attempt < BUSY_RETRIES ? 0 : MNT_DETACH);
    } catch (e) {
      if (isErrno(e, 'EINVAL') || isErrno(e, 'ENOENT')) break; // not (or no longer) mounted
      if (!isErrno(e, 'EBUSY') || attempt > BUSY_RETRIES) throw e;
      await sleep(BUSY_RETRY_MS);
    }
  }
  await rm(path, { force: true });
}

export interface NetnsEntry {
  readonly id: string;
  readonly path: string;
  /** False for a file left behind without a namespace mounted on it (a crash before the bind). */
  readonly pinned: boolean;
}

/** Every netns file under `<stateDir>/netns` (for restart cleanup). */
export async function listNetns(stateDir: string): Promise<NetnsEntry[]> {
  const dir = joinWithin(stateDir, 'netns');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const mounted = new Set(readMountInfo().filter((m) => m.fsType === 'nsfs').map((m) => m.mountPoint));
  const out: NetnsEntry[] = [];
  for (const id of names.sort()) {
    const path = joinWithin(dir, id);
    if (!(await lstat(path)).isFile()) continue;
    out.push({ id, path, pinned: mounted.has(resolved(path)) });
  }
  return out;
}
