// What reload after a daemon restart reads from the state dir (docs/taskmanager.md, "Reload"):
// the bundles under <state>/<ns>/<id> and, per bundle, what it takes to find its shim again. The
// shim manager (shim-manager.ts) does the reconnecting; this file only reads.
//
// The bundle's small files and the state and work dirs' listings are read synchronously: at
// start-up the libuv threadpool is busy opening the level stores, and queueing behind it cost
// tens of ms per task (and per listing) where the reads themselves take microseconds.
import { readdirSync } from 'node:fs';
import { isValidIdentifier } from '../common/index.js';
import { bundlePaths, readBundleFileSync, type BundlePaths } from './bundle.js';

function subdirs(dir: string): string[] {
  try {
    const ents = readdirSync(dir, { withFileTypes: true });
    return ents.filter((e) => e.isDirectory() && !e.name.startsWith('.') && isValidIdentifier(e.name)).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The names in `dir`, or none when it cannot be read. */
export function listSync(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The `.<id>` dirs under <stateDir>/<ns>: a bundle removal (renamed, then removed) cut short by a
 * crash (docs/crash-safety.md).
 */
export async function findHiddenBundles(stateDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const ns of subdirs(stateDir)) {
    for (const name of listSync(`${stateDir}/${ns}`)) if (name.startsWith('.') && isValidIdentifier(name.slice(1))) out.push(`${stateDir}/${ns}/${name}`);
  }
  return out;
}

/** Every bundle under <stateDir>/<ns>/<id> (dot-names and invalid identifiers skipped). */
export async function findBundles(stateDir: string, rootDir: string): Promise<BundlePaths[]> {
  const bundles: BundlePaths[] = [];
  for (const ns of subdirs(stateDir)) {
    for (const id of subdirs(`${stateDir}/${ns}`)) bundles.push(bundlePaths(stateDir, rootDir, ns, id));
  }
  return bundles;
}

/** What a bundle says about its shim; `leftover` names why it cannot have one. `marked` says
 *  which of the names asked for by the caller are in the bundle. */
export type BundleShim =
  | { kind: 'shim'; binary: string; address: string | undefined; hasLog: boolean; marked: ReadonlySet<string> }
  | { kind: 'leftover'; reason: string };

/**
 * The bundle's listing decides which files are read: a file it does not name is not opened (a
 * failed open throws, and building that error cost more than the read, 400 times per 200-pod
 * restart; bench/README.md "Restart reload with 200 pods").
 */
export function readBundleShim(b: BundlePaths, markers: readonly string[] = []): BundleShim {
  const files = new Set(listSync(b.path));
  if (files.size === 0) return { kind: 'leftover', reason: 'bundle is empty or unreadable' };
  const read = (name: string): string | undefined => (files.has(name) ? readBundleFileSync(b, name) : undefined);
  const binary = read('shim-binary-path')?.trim();
  if (!binary) return { kind: 'leftover', reason: 'no shim-binary-path (the shim never started)' };
  return { kind: 'shim', binary, address: read('address'), hasLog: files.has('log'), marked: new Set(markers.filter((m) => files.has(m))) };
}
