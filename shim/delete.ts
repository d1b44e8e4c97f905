// The `delete` action (docs/shim.md "Process contract"): clean up after a shim that is gone. Like the runc shim it
// takes the bundle as <parent of cwd>/<id>, force-deletes the container with the runtime and
// root recorded at Create, unmounts the rootfs and prints DeleteResponse{pid from init.pid,
// exit_status 137, exited_at now} as raw protobuf on stdout.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, silentLogger, validateIdentifier } from '../common/index.js';
import { containerd, toTimestamp } from '../proto/index.js';
import { spawnHelper, unmountAll } from '../sys/index.js';
import type { ShimFlags } from './flags.js';
import { DEFAULT_RUNC_ROOT, Runc } from './runc.js';

const KILLED_EXIT_STATUS = 137;

export async function deleteShim(flags: ShimFlags, cwd = process.cwd()): Promise<Uint8Array> {
  const id = validateIdentifier(flags.id, 'container id');
  validateIdentifier(flags.namespace, 'namespace');
  const bundle = path.join(path.dirname(cwd), id);
  let binary: string;
  try {
    binary = readFileSync(path.join(bundle, 'runtime'), 'utf8').trim() || 'runc';
  } catch (err) {
    throw new FailedPreconditionError(`${bundle}: no runtime file (the shim never created ${id})`, { cause: err });
  }
  let opts: { root?: string } = {};
  try {
    opts = JSON.parse(readFileSync(path.join(bundle, 'options.json'), 'utf8')) as { root?: string };
  } catch {
    // no options: defaults
  }
  const runc = new Runc(
    { binary, root: path.join(opts.root || DEFAULT_RUNC_ROOT, flags.namespace) },
    (command, args, o) => spawnHelper(command, args, { ...o, cwd: '/' }),
    silentLogger,
  );
  await runc.delete(id, true).catch((err: unknown) => {
    if (!/does not exist|not found/i.test((err as Error).message)) throw err;
  });
  unmountAll(path.join(bundle, 'rootfs'));
  let pid = 0;
  try {
    pid = Number(readFileSync(path.join(bundle, 'init.pid'), 'utf8').trim()) || 0;
  } catch {
    // never created
  }
  return containerd.task.v2.DeleteResponse.encode({ pid, exitStatus: KILLED_EXIT_STATUS, exitedAt: toTimestamp(new Date()) }).finish();
}
