// Runtime name -> shim binary, the way containerd 1.6 resolves it (docs/taskmanager.md):
// `io.containerd.runc.v2` -> `containerd-shim-runc-v2` (the last two dot parts), an absolute path
// is used as is, a configured path wins over the name; lookup is $PATH, then the daemon's own dir.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../common/index.js';

export interface RuntimeResolveOptions {
  /** runtime name -> absolute binary path (containerd's `runtime_path`), checked first. */
  runtimePaths?: Readonly<Record<string, string>>;
  /** Search path; default process.env.PATH. */
  searchPath?: string;
  /** The daemon's own directory, searched last; default the directory of process.argv[1]. */
  daemonDir?: string;
}

/** `io.containerd.runc.v2` -> `containerd-shim-runc-v2`. */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw new InvalidArgumentError(
      `runtime ${JSON.stringify(runtime)} is not valid: expected <prefix>.<name>.<version>, e.g. io.containerd.runc.v2, or an absolute path`,
    );
  }
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a runtime name (or absolute path) to an absolute, executable shim binary path. */
export function resolveRuntime(runtime: string, opts: RuntimeResolveOptions = {}): string {
  if (typeof runtime !== 'string' || runtime === '') {
    throw new InvalidArgumentError('runtime name is empty');
  }
  const configured = opts.runtimePaths?.[runtime];
  const direct = configured ?? (path.isAbsolute(runtime) ? runtime : undefined);
  if (direct !== undefined) {
    if (!path.isAbsolute(direct)) {
      throw new InvalidArgumentError(`runtime ${runtime}: configured path ${JSON.stringify(direct)} is not absolute`);
    }
    if (!isExecutableFile(direct)) {
      throw new NotFoundError(`runtime ${runtime}: shim binary ${direct} does not exist or is not executable: not found`);
    }
    return direct;
  }
  const binary = shimBinaryName(runtime);
  const dirs = (opts.searchPath ?? process.env.PATH ?? '').split(':').filter((d) => d !== '');
  const daemonDir = opts.daemonDir ?? (process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : undefined);
  if (daemonDir) dirs.push(daemonDir);
  for (const dir of dirs) {
    const candidate = path.resolve(dir, binary);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new NotFoundError(`runtime ${runtime}: shim binary ${binary} not found in PATH or ${daemonDir ?? 'the daemon directory'}: not found`);
}
