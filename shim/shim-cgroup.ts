// A `start` step (docs/shim.md "Process contract"): when containerd passes runc Options on stdin with shim_cgroup
// set, the long-lived server is moved into that cgroup. Loaded only when stdin carried options.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../common/index.js';
import { RUNC_OPTIONS_TYPE_URL, containerd, google } from '../proto/index.js';
import { cgroupDir, cgroupVersion } from '../sys/index.js';

/** The shim_cgroup named by a `google.protobuf.Any` of runc Options; "" when none. */
export function shimCgroupOf(anyBytes: Uint8Array): string {
  let any: google.protobuf.Any;
  try {
    any = google.protobuf.Any.decode(anyBytes);
  } catch (err) {
    throw new InvalidArgumentError(`start: stdin is not a protobuf Any: ${(err as Error).message}`, { cause: err });
  }
  if (any.type_url !== RUNC_OPTIONS_TYPE_URL) return '';
  return containerd.runc.v1.Options.decode(any.value ?? new Uint8Array(0)).shimCgroup ?? '';
}

/** Moves `pid` into `cgroupPath` in every v1 hierarchy this process belongs to, or in the v2 tree. */
export function joinCgroup(pid: number, cgroupPath: string): void {
  if (cgroupVersion() === 2) {
    writeFileSync(path.join(cgroupDir(cgroupPath, '', 2), 'cgroup.procs'), String(pid));
    return;
  }
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const controllers = line.split(':')[1];
    if (!controllers) continue;
    const controller = controllers.split(',')[0] as string; // "memory", "cpu,cpuacct", "name=systemd"
    const dir = cgroupDir(cgroupPath, controller, 1);
    if (!existsSync(dir)) throw new NotFoundError(`shim cgroup ${cgroupPath} does not exist in the ${controller} hierarchy (${dir})`);
    writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  }
}
