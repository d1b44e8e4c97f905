// The libcni result cache (docs/network.md "Cache"): `<cacheDir>/results/<network>-<containerid>-<ifname>`,
// one JSON object of kind cniCacheV1, written (0600, atomically) after a list's ADD succeeded and
// removed after its DEL succeeded. DEL reads it for prevResult, so DEL works after a restart.
import { mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { InternalError, joinWithin, writeFileAtomicSync } from '../../common/index.js';

export interface CacheEntry {
  readonly kind: 'cniCacheV1';
  readonly containerId: string;
  /** base64 of the network config list bytes. */
  readonly config: string;
  readonly ifName: string;
  readonly networkName: string;
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  readonly result: unknown;
}

function resultsDir(cacheDir: string): string {
  return joinWithin(cacheDir, 'results');
}

function entryPath(cacheDir: string, networkName: string, containerId: string, ifName: string): string {
  return joinWithin(resultsDir(cacheDir), `${networkName}-${containerId}-${ifName}`);
}

/** Written whole with synchronous calls, as the intent journal (intents.ts says why). */
export async function writeCache(cacheDir: string, entry: CacheEntry): Promise<void> {
  mkdirSync(resultsDir(cacheDir), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(entryPath(cacheDir, entry.networkName, entry.containerId, entry.ifName), JSON.stringify(entry), { mode: 0o600 });
}

/** The cached entry, or undefined when there is none (not an error, as in libcni). */
export async function readCache(cacheDir: string, networkName: string, containerId: string, ifName: string): Promise<CacheEntry | undefined> {
  const path = entryPath(cacheDir, networkName, containerId, ifName);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as CacheEntry;
    if (v.kind !== 'cniCacheV1' || v.containerId !== containerId) throw new Error('not a cniCacheV1 entry for this container');
    return v;
  } catch (e) {
    throw new InternalError(`cni cache file ${path} is unreadable: ${(e as Error).message}`, { cause: e });
  }
}

export async function deleteCache(cacheDir: string, networkName: string, containerId: string, ifName: string): Promise<void> {
  await rm(entryPath(cacheDir, networkName, containerId, ifName), { force: true });
}

