// Pod namespaces, pinned by a bind mount: the network one at <state>/netns/<sandbox id>, and for a
// pod without a pause process its IPC and UTS ones at <state>/podns/<sandbox id>/{ipc,uts}
// (docs/network.md, docs/cri.md "Pods without a pause process"), so they outlive any process and a
// restarted daemon finds them by id. Node cannot unshare one of its own threads safely, so
// util-linux `unshare --net=<file> --ipc=<file> --uts=<file>` makes and pins them.
import { lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AlreadyExistsError, InternalError, InvalidArgumentError, joinWithin, validateIdentifier } from '../../common/index.js';
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
  await pinNamespaces({ net: path });
  return path;
}

/** Where a pause-less pod's IPC and UTS namespaces are pinned: `<stateDir>/podns/<id>/{ipc,uts}`. */
export function podNamespacePaths(stateDir: string, sandboxId: string): { ipc: string; uts: string } {
  const dir = joinWithin(stateDir, 'podns', validateIdentifier(sandboxId, 'sandbox id'));
  return { ipc: joinWithin(dir, 'ipc'), uts: joinWithin(dir, 'uts') };
}

/** The namespaces to pin (each a file path) and what to set inside them before anything joins. */
export interface PinRequest {
  net?: string;
  ipc?: string;
  uts?: string;
  /** Set in the new UTS namespace (needs `uts`). */
  hostname?: string;
  /** name -> value, written to /proc/sys by a process inside the new namespaces only. */
  sysctls?: Readonly<Record<string, string>>;
  /**
   * Bring `lo` up in a new netns (default true); false when CNI's loopback network does it
   * anyway (a pod's setup: it then costs no `ip` process on the way to CNI ADD).
   */
  loUp?: boolean;
}

const KIND_FLAG = { net: '--net', ipc: '--ipc', uts: '--uts' } as const;

/**
 * The /proc/sys path of a sysctl name (`.` separates, `/` stands for a `.` inside a component,
 * as sysctl(8) reads it); a component that would climb out of /proc/sys is refused.
 */
export function sysctlPath(name: string): string {
  const parts = name.split('.').map((p) => p.replace(/\//g, '.'));
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new InvalidArgumentError(`sysctl ${JSON.stringify(name)} is not a sysctl name`);
  return `/proc/sys/${parts.join('/')}`;
}

// Runs inside the new namespaces: "$1" is the hostname ("" = keep), then path/value pairs, then
// lo up when a network namespace is new. A write to /proc/sys/{net,kernel} reaches the writer's
// own namespaces, so nothing here touches the host's.
const SETUP_SCRIPT = 'set -e; [ -z "$1" ] || printf %s "$1" > /proc/sys/kernel/hostname; shift; '
  + 'while [ $# -gt 1 ]; do printf %s "$2" > "$1"; shift 2; done; [ "$1" != lo ] || ip link set lo up';

/**
 * Creates new namespaces of the kinds given and pins each at its file (a bind mount of the
 * namespace, docs/network.md), sets the hostname and sysctls inside them, brings `lo` up in a new
 * netns (unless `loUp` is false); one short-lived process chain (util-linux `unshare` pins, `sh` sets up, then both exit).
 * An existing file is refused (AlreadyExists); a failure unpins and removes every file it made.
 */
export async function pinNamespaces(req: PinRequest): Promise<void> {
  const kinds = (['net', 'ipc', 'uts'] as const).filter((k) => req[k] !== undefined);
  if (kinds.length === 0) return;
  if (req.hostname && !req.uts) throw new InvalidArgumentError('a hostname needs a UTS namespace of its own');
  const sysctlArgs = Object.entries(req.sysctls ?? {}).flatMap(([k, v]) => [sysctlPath(k), v]);
  const made: string[] = [];
  try {
    // Synchronous: empty files in the state dir, on the way to CNI ADD (no thread-pool trips).
    for (const k of kinds) {
      const path = req[k]!;
      mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
      try {
        writeFileSync(path, '', { flag: 'wx', mode: 0o444 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new AlreadyExistsError(`${k} namespace ${path} already exists`, { cause: e });
        }
        throw e;
      }
      made.push(path);
    }
  } catch (err) {
    for (const p of made) await rm(p, { force: true });
    throw err;
  }
  try {
    // Through sys/spawner.ts (posix_spawn, no fork of the daemon): it is on the pod start path.
    const args = [...kinds.map((k) => `${KIND_FLAG[k]}=${req[k]!}`), 'sh', '-c', SETUP_SCRIPT, 'sh', req.hostname ?? '', ...sysctlArgs, req.net && req.loUp !== false ? 'lo' : ''];
    const r = await runProcess({ file: 'unshare', args, timeoutMs: TOOL_TIMEOUT_MS });
    if (r.code !== 0) {
      const why = r.timedOut ? `timed out after ${TOOL_TIMEOUT_MS} ms` : `exit status ${r.code ?? r.signal}`;
      throw new Error(r.stderr.toString('utf8').trim() || why);
    }
  } catch (err) {
    for (const p of made) await removeNetns(p);
    throw new InternalError(`cannot create ${kinds.join('/')} namespaces at ${made.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
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
  // Synchronous: a restart lists every pod's file, and each promised lstat queued behind the
  // start's other thread-pool work for far longer than the lstat takes (docs/cri.md "Start-up order").
  const entries = names.sort().map((id) => {
    const path = joinWithin(dir, id);
    return lstatSync(path).isFile() ? { id, path, pinned: mounted.has(resolved(path)) } : undefined;
  });
  return entries.filter((e): e is NetnsEntry => e !== undefined);
}

/** Unpins a pause-less pod's IPC and UTS namespaces and removes their directory (missing = done). */
export async function removePodNamespaces(stateDir: string, sandboxId: string): Promise<void> {
  const p = podNamespacePaths(stateDir, sandboxId);
  await removeNetns(p.ipc);
  await removeNetns(p.uts);
  await rm(dirname(p.ipc), { recursive: true, force: true });
}
