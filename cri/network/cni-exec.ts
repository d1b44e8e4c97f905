// Runs one CNI plugin binary the way libcni's invoke package does (docs/network.md "Env"): the daemon's
// environment plus the CNI_* variables, the per-plugin JSON on stdin, the result (or an error
// object) on stdout. Every exec has a deadline; a plugin that outlives it is killed.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { DeadlineExceededError, InternalError, InvalidArgumentError, NotFoundError } from '../../common/index.js';
import { runProcess } from '../../sys/index.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface PluginInvocation {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  /** `K=V` pairs, joined with ';' into CNI_ARGS. */
  readonly args: readonly (readonly [string, string])[];
  /** bin dirs, searched in order and joined with ':' into CNI_PATH. */
  readonly binDirs: readonly string[];
  readonly timeoutMs: number;
}

/** A plugin's own error report: `{code, msg, details}` from its stdout, kept for the caller. */
export class CniPluginError extends InternalError {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    readonly cniCode: number,
    readonly msg: string,
    readonly details: string,
  ) {
    super(`plugin type=${JSON.stringify(plugin)} failed (${command.toLowerCase()}): ${msg}${details ? `; ${details}` : ''}`);
    this.name = 'CniPluginError';
  }
}

/**
 * The first `<dir>/<type>` that is executable. `type` is a file name, never a path: checked here,
 * where every exec passes (configs from the conf dir and the journal replayed on recovery alike),
 * as libcni's FindInPath refuses a name with a separator (docs/security.md).
 */
export async function findPlugin(binDirs: readonly string[], type: string): Promise<string> {
  if (type === '' || type === '.' || type === '..' || type.includes('/') || type.includes('\0')) {
    throw new InvalidArgumentError(`plugin type ${JSON.stringify(type)} is not a plugin name: it must not name a path`);
  }
  for (const dir of binDirs) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK); // synchronous: one cached stat per plugin run on the pod start path
      return p;
    } catch {
      // try the next dir
    }
  }
  throw new NotFoundError(`failed to find plugin ${JSON.stringify(type)} in path [${binDirs.join(' ')}]`);
}

/** Runs a plugin; resolves its parsed stdout (undefined when empty, as DEL prints nothing). */
export async function execPlugin(type: string, stdin: unknown, inv: PluginInvocation): Promise<unknown> {
  const binary = await findPlugin(inv.binDirs, type);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.args.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: inv.binDirs.join(':'),
  };
  // Through sys/spawner.ts (posix_spawn: Node's fork-based spawn blocks the daemon ~10 ms, and
  // plugins run while the pause task is made).
  const r = await runProcess({ file: binary, env, input: JSON.stringify(stdin), timeoutMs: inv.timeoutMs, detached: true }).catch((e: unknown) => {
    throw new InternalError(`cannot run cni plugin ${binary}: ${(e as Error).message}`, { cause: e });
  });
  const { code, timedOut } = r;
  const stdout = r.stdout.toString('utf8');
  const stderr = r.stderr.toString('utf8');
  if (timedOut) {
    throw new DeadlineExceededError(`plugin type=${JSON.stringify(type)} (${inv.command.toLowerCase()}) did not finish within ${inv.timeoutMs} ms`);
  }
  const parsed = parseOutput(stdout);
  if (code !== 0) {
    const e = isObject(parsed) ? parsed : {};
    const msg = typeof e.msg === 'string' && e.msg !== '' ? e.msg : stderr.trim() || stdout.trim() || `exit status ${code ?? 'signal'}`;
    const details = typeof e.details === 'string' ? e.details : '';
    throw new CniPluginError(type, inv.command, typeof e.code === 'number' ? e.code : 0, msg, details);
  }
  return parsed;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseOutput(stdout: string): unknown {
  if (stdout.trim() === '') return undefined;
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    return undefined;
  }
}
