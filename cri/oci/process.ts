// process.args, process.env and process.cwd from the CRI config and the image config.
import { InvalidArgumentError } from '../../common/index.js';
import type { CriContainerConfig, ImageConfig } from './types.js';

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * containerd's WithProcessArgs (after moby): without a CRI command, the image Entrypoint is the
 * command (unless it is the single empty string) and the CRI args, else the image Cmd, follow;
 * a CRI command replaces the Entrypoint and drops the image Cmd.
 */
export function processArgs(config: CriContainerConfig, image: ImageConfig): string[] {
  let command = config.command ?? [];
  let args = config.args ?? [];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const ep = image.Entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === '')) command = [...ep];
  }
  const all = [...command, ...args];
  if (all.length === 0) throw new InvalidArgumentError('no command specified: the container config has no command or args and the image no Entrypoint or Cmd');
  return all;
}

/**
 * Sets `overrides` on `base` by key: an existing key is replaced in place, a new one appended,
 * an entry without `=` unsets the key (containerd's replaceOrAppendEnvValues).
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out: (string | undefined)[] = [...base];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set((e ?? '').split('=')[0] ?? '', i));
  for (const e of overrides) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    const at = index.get(key);
    if (eq < 0) {
      if (at !== undefined) out[at] = undefined;
      index.delete(key);
    } else if (at !== undefined) {
      out[at] = e;
    } else {
      index.set(key, out.length);
      out.push(e);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

/** PATH default, HOSTNAME, then the image Env, then the CRI envs (later keys win). */
export function containerEnv(config: CriContainerConfig, image: ImageConfig, hostname: string): string[] {
  const cri = (config.envs ?? []).map((kv) => {
    if (!kv.key) throw new InvalidArgumentError('envs: an entry has an empty key');
    return `${kv.key}=${kv.value ?? ''}`;
  });
  return mergeEnv([DEFAULT_PATH_ENV, `HOSTNAME=${hostname}`], [...(image.Env ?? []), ...cri]);
}

/** CRI working_dir, else the image WorkingDir, else `/`. */
export function containerCwd(config: CriContainerConfig, image: ImageConfig): string {
  const cwd = config.workingDir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError(`working_dir ${JSON.stringify(cwd)} must be an absolute path`);
  return cwd;
}
