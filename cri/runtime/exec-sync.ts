// ExecSync: run a command in a running container with the container's process settings, collect
// stdout/stderr (each capped at 16 MiB, like kubelet's limit), return the exit code. A timeout
// kills the process and fails with DeadlineExceeded. The exec is always deleted afterwards.
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, randomBytes } from '../../common/index.js';
import { containerState } from '../store/index.js';
import { containerSpecPath } from './container-create.js';
import { CRI_NAMESPACE, type RuntimeDeps } from './deps.js';
import { drainFifoReaders } from '../../taskmanager/index.js';

type Deps = Pick<RuntimeDeps, 'store' | 'tasks' | 'dirs' | 'log'>;

export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

class Collector {
  readonly chunks: Buffer[] = [];
  size = 0;
  attach(s: Readable | undefined): void {
    s?.on('data', (d: Buffer) => {
      const room = EXEC_OUTPUT_CAP - this.size;
      if (room <= 0) return;
      const part = d.length > room ? d.subarray(0, room) : d;
      this.chunks.push(part);
      this.size += part.length;
    });
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function execSync(deps: Deps, id: string, cmd: readonly string[], timeoutSec: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
  if (cmd.length === 0) throw new InvalidArgumentError('exec command must not be empty');
  const c = deps.store.containers.get(id);
  const state = containerState(c);
  if (state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${id} is in ${state} state, not running`);
  const spec = JSON.parse(await readFile(containerSpecPath(deps.dirs, id), 'utf8')) as { process: Record<string, unknown> };
  const processSpec = { ...spec.process, args: [...cmd], terminal: false };
  const execId = `exec-${randomBytes(8).toString('hex')}`;
  const handle = await deps.tasks.exec(CRI_NAMESPACE, id, execId, { spec: processSpec });
  const out = new Collector();
  const err = new Collector();
  out.attach(handle.stdout);
  err.attach(handle.stderr);
  let deleted = false;
  try {
    const exited = deps.tasks.wait(CRI_NAMESPACE, id, execId);
    await deps.tasks.startExec(CRI_NAMESPACE, id, execId);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      exited,
      ...(timeoutSec > 0 ? [new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutSec * 1000); })] : []),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') {
      await deps.tasks.kill(CRI_NAMESPACE, id, 9, { execId }).catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      throw new DeadlineExceededError(`command ${JSON.stringify(cmd.join(' '))} timed out after ${timeoutSec}s`);
    }
    // Delete first: the runc shim reports the exit before its copy of the output into the FIFOs
    // ends, and its Delete returns only once that copy did; then the FIFOs are read to the end.
    // (A wait for quiet after the exit lost output under load: an empty stdout with exit 0.)
    deleted = true;
    await deps.tasks.deleteExec(CRI_NAMESPACE, id, execId, { beforeClose: () => drainFifoReaders([handle.stdout, handle.stderr]) })
      .catch((e: unknown) => deps.log.warn({ err: e, containerId: id, execId }, 'cannot delete exec'));
    return { stdout: out.bytes, stderr: err.bytes, exitCode: result.exitStatus };
  } finally {
    if (!deleted) await deps.tasks.deleteExec(CRI_NAMESPACE, id, execId).catch((e: unknown) => deps.log.warn({ err: e, containerId: id, execId }, 'cannot delete exec'));
  }
}
