// A small journal of network work per sandbox, `<stateDir>/cni-intents/<id>.json`, written before
// the first plugin runs and removed after teardown finished. It records the pod's arguments and
// the exact configs ADD used, so a restarted daemon can finish or undo half-done work with the
// same inputs even when the conf dir changed meanwhile or the ADD never reached the cache.
import { mkdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { joinWithin, validateIdentifier, writeFileAtomicSync } from '../../common/index.js';
import type { PodNetworkArgs } from './pod-args.js';

/**
 *   (none) --setup--> setting-up --ADD ok--> ready --teardown--> tearing-down --DEL ok--> (none)
 *                          `--ADD failed / restart: undo (DEL) ------------------^
 */
export type IntentPhase = 'setting-up' | 'ready' | 'tearing-down';

export interface IntentNetwork {
  readonly name: string;
  readonly ifName: string;
  /** base64 of the config list bytes used for ADD. */
  readonly config: string;
}

export interface NetworkIntent {
  readonly version: 1;
  readonly phase: IntentPhase;
  readonly args: PodNetworkArgs;
  readonly networks: readonly IntentNetwork[];
}

function dir(stateDir: string): string {
  return joinWithin(stateDir, 'cni-intents');
}

function file(stateDir: string, id: string): string {
  return joinWithin(dir(stateDir), `${validateIdentifier(id, 'sandbox id')}.json`);
}

/**
 * Written whole (temp file + rename) with synchronous calls: a few hundred bytes in the state dir,
 * on the pod start path, where each trip through the thread pool waits behind the daemon's other
 * work (docs/network.md "Crash safety: the intent journal").
 */
export async function writeIntent(stateDir: string, intent: NetworkIntent): Promise<void> {
  mkdirSync(dir(stateDir), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file(stateDir, intent.args.id), JSON.stringify(intent), { mode: 0o600 });
}

export async function readIntent(stateDir: string, id: string): Promise<NetworkIntent | undefined> {
  return parseIntent(await readFile(file(stateDir, id), 'utf8').catch(missing), id);
}

/**
 * readIntent without the thread pool, for a restart's recovery, which reads every pod's entry:
 * there each promised read was four trips through a pool the start keeps busy, where the read
 * takes microseconds (docs/cri.md "Start-up order").
 */
export function readIntentSync(stateDir: string, id: string): NetworkIntent | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(file(stateDir, id), 'utf8');
  } catch (e) {
    text = missing(e);
  }
  return parseIntent(text, id);
}

/** No entry (ENOENT) reads as undefined; any other error is thrown. */
function missing(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}

/** The entry in `text`, or undefined when there is none or it is not a whole version-1 entry of `id`. */
function parseIntent(text: string | undefined, id: string): NetworkIntent | undefined {
  if (text === undefined) return undefined;
  let v: NetworkIntent;
  try {
    v = JSON.parse(text) as NetworkIntent;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
  return v.version === 1 && v.args?.id === id ? v : undefined;
}

export async function deleteIntent(stateDir: string, id: string): Promise<void> {
  await rm(file(stateDir, id), { force: true });
}

/** Sandbox ids with a journal entry. */
export async function listIntents(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(dir(stateDir)))
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
