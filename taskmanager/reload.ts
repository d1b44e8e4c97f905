// Reload after a daemon restart (shim-v2.md §10, plus what containerd's CRI recover does):
// walk <state>/<ns>/<id>, and for every bundle IN PARALLEL: read `address` and
// `shim-binary-path`, reopen the log FIFO, dial (short deadline), Connect (5 s), reopen the
// stdio FIFOs and re-arm Wait. Wait on a process that exited while the daemon was down returns at
// once with its REAL status (the shim kept it). A shim that is gone or does not answer gets
// `<shim> delete`; its task's exit (delete's status, or 255) is recorded unless it already was,
// and bundle, mounts, FIFOs and socket are removed.
//
// The bundle's small files (state dir, tmpfs) are read synchronously: at start-up the libuv
// threadpool is busy opening the level stores, and queueing behind it cost tens of ms per task
// where the reads themselves take microseconds.
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type net from 'node:net';
import { isValidIdentifier } from '../common/index.js';
import { bundleFile, bundlePaths, readBundleFileSync, removeBundle, type BundlePaths } from './bundle.js';
import { removeSocketFile, type ShimConn } from './shim-pool.js';
import { execIdsIn, removeStdio, reopenStdio } from './stdio.js';
import type { ExitInfo } from './task-client.js';
import { taskKey, type TaskEntry, type TaskHandle, type TaskManager } from './task-manager.js';

export type ReloadOutcome =
  | { kind: 'reloaded'; namespace: string; id: string; task: TaskHandle }
  | { kind: 'dead'; namespace: string; id: string; exit: ExitInfo }
  | { kind: 'removed'; namespace: string; id: string; reason: string };

async function subdirs(dir: string): Promise<string[]> {
  try {
    const ents = await readdir(dir, { withFileTypes: true });
    return ents.filter((e) => e.isDirectory() && !e.name.startsWith('.') && isValidIdentifier(e.name)).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function listSync(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export async function reloadTasks(tm: TaskManager): Promise<ReloadOutcome[]> {
  const bundles: BundlePaths[] = [];
  for (const ns of await subdirs(tm.stateDir)) {
    for (const id of await subdirs(`${tm.stateDir}/${ns}`)) bundles.push(bundlePaths(tm.stateDir, tm.rootDir, ns, id));
  }
  return Promise.all(bundles.map((b) => tm.locks.run(taskKey(b.namespace, b.id), () => reloadOne(tm, b))));
}

async function reloadOne(tm: TaskManager, b: BundlePaths): Promise<ReloadOutcome> {
  const log = tm.log.child({ task: `${b.namespace}/${b.id}` });
  const existing = tm.tasks.get(taskKey(b.namespace, b.id));
  if (existing) return { kind: 'reloaded', namespace: b.namespace, id: b.id, task: tm.task(b.namespace, b.id) };
  const removed = async (reason: string): Promise<ReloadOutcome> => {
    log.warn({ reason }, 'reload: removing bundle');
    await removeBundle(b);
    return { kind: 'removed', namespace: b.namespace, id: b.id, reason };
  };
  const files = listSync(b.path);
  if (files.length === 0) return removed('bundle is empty or unreadable');
  const binary = readBundleFileSync(b, 'shim-binary-path')?.trim();
  if (!binary) return removed('no shim-binary-path (the shim never started)');
  const address = readBundleFileSync(b, 'address');

  let logFifo: net.Socket | undefined;
  let conn: ShimConn | undefined;
  try {
    if (files.includes('log')) logFifo = tm.openShimLog(b);
    if (!address) throw new Error('no address file');
    conn = await tm.pool.acquire(address, b.namespace, binary);
    const c = await conn.api.connect(b.id, 5_000);
    conn.shimPid = c.shimPid;
    if (c.taskPid === 0) {
      logFifo?.destroy();
      return await removed('the shim does not know this task');
    }
    const ioDir = bundleFile(b, 'io');
    const io = listSync(ioDir);
    const stdio = await reopenStdio(ioDir, '', tm.log, io);
    for (const execId of await execIdsIn(ioDir, io)) await removeStdio(ioDir, execId); // execs are not reloaded
    const entry: TaskEntry = {
      namespace: b.namespace, id: b.id, bundle: b, shim: conn, pid: c.taskPid, stdio,
      ...(logFifo ? { logFifo } : {}), execs: new Map(),
    };
    const key = taskKey(b.namespace, b.id);
    tm.tasks.set(key, entry);
    conn.tasks.add(key);
    if (conn.api.client.closed) {
      // The shim died between Connect and now: its onClose ran before this task was listed.
      await tm.handleDeadShim(conn);
      throw new Error('shim connection closed during reload');
    }
    tm.armWait(entry, '');
    log.info({ address, pid: c.taskPid, shimPid: c.shimPid }, 'reload: task reconnected');
    return { kind: 'reloaded', namespace: b.namespace, id: b.id, task: tm.task(b.namespace, b.id) };
  } catch (err) {
    log.warn({ err, address }, 'reload: shim is gone; cleaning up');
    logFifo?.destroy();
    if (conn && conn.tasks.size === 0) await tm.pool.release(conn);
    const exit = await tm.runShimDelete(binary, b, 0);
    await tm.recordExit({ namespace: b.namespace, containerId: b.id, id: b.id, ...exit }, 'reload');
    await removeBundle(b);
    if (address && !conn) await removeSocketFile(address, tm.log);
    return { kind: 'dead', namespace: b.namespace, id: b.id, exit };
  }
}
