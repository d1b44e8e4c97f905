// Task bundles, laid out as containerd 1.6 lays them out (docs/taskmanager.md "On-disk layout"):
//   <state>/<ns>/<id>/            0700
//     config.json                 the OCI spec
//     rootfs/                     0711, the shim mounts CreateTaskRequest.rootfs here
//     work -> <root>/<ns>/<id>    0711
//     log                         FIFO 0700, opened by the daemon before `start`
//     address                     written by the shim's `start`
//     shim-binary-path            written by the daemon after `start`
//     io/                         berth: the stdio FIFOs of the task and its execs
// Ids are validated and every path goes through joinWithin, so no id can leave the state dir.
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, rename, rm, lstat } from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExistsError, CleanupStack, InvalidArgumentError, joinWithin, validateIdentifier, type Logger } from '../common/index.js';
import { removeCgroup, unmountAll } from '../sys/index.js';
import { makeFifo } from './fifo.js';

export const DEFAULT_STATE_DIR = '/run/berth/io.containerd.runtime.v2.task';
export const DEFAULT_ROOT_DIR = '/var/lib/berth/io.containerd.runtime.v2.task';

export interface BundlePaths {
  namespace: string;
  id: string;
  path: string;
  workDir: string;
}

export function bundlePaths(stateDir: string, rootDir: string, namespace: string, id: string): BundlePaths {
  validateIdentifier(namespace, 'namespace');
  validateIdentifier(id, 'task id');
  return {
    namespace,
    id,
    path: joinWithin(stateDir, namespace, id),
    workDir: joinWithin(rootDir, namespace, id),
  };
}

export const bundleFile = (b: BundlePaths, name: string): string => joinWithin(b.path, name);

/**
 * A container in a user namespace: runc binds the rootfs from inside it, as the pod's root, which
 * has no rights over host-owned dirs; the bundle dir becomes root:<host gid of its gid 0> 0710, as
 * containerd 2.x does (prepareBundleDirectoryPermissions), so that root may pass, nobody else.
 */
function openToUsernsRoot(dir: string, spec: object): void {
  const maps = (spec as { linux?: { gidMappings?: Array<{ containerID?: number; hostID?: number; size?: number }> } }).linux?.gidMappings;
  const root = maps?.find((m) => (m.containerID ?? 0) === 0 && (m.size ?? 0) > 0);
  if (!root) return;
  chownSync(dir, 0, root.hostID ?? 0);
  chmodSync(dir, 0o710);
}

/**
 * Creates the bundle dir, config.json, rootfs/, work link, io/ and the log FIFO. Synchronous
 * calls on the task's start path: a handful of small files and dirs on the state tmpfs (and the
 * work dir) take well under a millisecond that way, where each trip through the thread pool
 * waits behind whatever else the daemon has queued there.
 */
export async function createBundle(b: BundlePaths, spec: unknown, log: Logger): Promise<void> {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new InvalidArgumentError(`task ${b.id}: OCI spec must be a JSON object`);
  }
  const undo = new CleanupStack();
  try {
    mkdirSync(path.dirname(b.path), { recursive: true, mode: 0o711 });
    try {
      mkdirSync(b.path, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new AlreadyExistsError(`bundle for task ${b.namespace}/${b.id} already exists: already exists`);
      }
      throw err;
    }
    undo.push(`remove bundle ${b.path}`, () => rm(b.path, { recursive: true, force: true }));
    openToUsernsRoot(b.path, spec);
    writeFileSync(bundleFile(b, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
    mkdirSync(bundleFile(b, 'rootfs'), { mode: 0o711 });
    mkdirSync(bundleFile(b, 'io'), { mode: 0o700 });
    rmSync(b.workDir, { recursive: true, force: true });
    mkdirSync(b.workDir, { recursive: true, mode: 0o711 });
    undo.push(`remove work dir ${b.workDir}`, () => rm(b.workDir, { recursive: true, force: true }));
    symlinkSync(b.workDir, bundleFile(b, 'work'));
    await makeFifo(bundleFile(b, 'log'), 0o700);
    undo.release();
  } catch (err) {
    await undo.unwind(log);
    throw err;
  }
}

/** Reads a small bundle file, or undefined when it is missing. */
export async function readBundleFile(b: BundlePaths, name: string): Promise<string | undefined> {
  try {
    return await readFile(bundleFile(b, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * readBundleFile without the libuv threadpool: for reload, when the threadpool is busy opening
 * the level stores and a few bytes from the state dir (tmpfs) cost microseconds to read.
 */
export function readBundleFileSync(b: BundlePaths, name: string): string | undefined {
  try {
    return readFileSync(bundleFile(b, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The spec's `linux.cgroupsPath` when it is a cgroupfs path (the systemd driver's scopes are systemd's to remove). */
function cgroupsPathOf(b: BundlePaths): string | undefined {
  try {
    const spec = JSON.parse(readFileSync(bundleFile(b, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: unknown } };
    const p = spec.linux?.cgroupsPath;
    return typeof p === 'string' && p.startsWith('/') && !p.includes(':') ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * containerd's removal: unmount under rootfs, rename to `.<id>`, remove; same for the work dir.
 * The task is gone by then, and so is its cgroup, unless `runc create` was cut short or runc's
 * own removal raced the last exit: the spec's cgroup is removed too when it is empty
 * (docs/crash-safety.md).
 */
export async function removeBundle(b: BundlePaths, log?: Logger): Promise<void> {
  const exists = await lstat(b.path).then(() => true, () => false);
  if (exists) {
    const cgroup = cgroupsPathOf(b);
    if (cgroup !== undefined) {
      const r = removeCgroup(cgroup);
      if (r.removed.length > 0) log?.warn({ task: b.id, cgroups: r.removed }, 'removed the cgroup a deleted task left');
      if (r.failed.length > 0) log?.warn({ task: b.id, failed: r.failed }, 'cannot remove the cgroup of a deleted task');
    }
    unmountAll(bundleFile(b, 'rootfs'));
    const hidden = path.join(path.dirname(b.path), `.${b.id}`);
    await rm(hidden, { recursive: true, force: true });
    await rename(b.path, hidden);
    await rm(hidden, { recursive: true, force: true });
  }
  await rm(b.workDir, { recursive: true, force: true });
}
