// The shim binary's two actions (docs/taskmanager.md, docs/shim.md): `start` prints the ttrpc address (stdout and
// stderr read as ONE buffer, as containerd does), `delete` prints a DeleteResponse on stdout for a
// shim that is gone. Both run with containerd 1.6's argv, env and cwd, and both have a deadline.
import { DeadlineExceededError, InternalError, UnavailableError } from '../common/index.js';
import { runProcess, type RunResult } from '../sys/index.js';

export interface ShimCommandContext {
  binary: string;
  namespace: string;
  id: string;
  bundle: string;
  /** The daemon's gRPC address (a plain path), passed as -address. */
  grpcAddress: string;
  /** The daemon's ttrpc events socket, passed as TTRPC_ADDRESS. */
  ttrpcAddress: string;
  /** The daemon executable, passed as -publish-binary. */
  publishBinary: string;
  debug?: boolean;
}

// BERTH_SHIM_NODE: berth's shim launcher runs its bundle on the Node that runs the daemon (the
// Node berth needs, README), not on whatever `node` comes first on PATH; an operator's own
// BERTH_SHIM_NODE is kept (docs/shim.md).
export function shimEnv(ttrpcAddress: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env, TTRPC_ADDRESS: ttrpcAddress, GOMAXPROCS: '2', BERTH_SHIM_NODE: process.env.BERTH_SHIM_NODE || process.execPath,
  };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.BERTH_FAULT; // the daemon's own crash points (common/fault.ts)
  return env;
}

function baseArgs(c: ShimCommandContext): string[] {
  return ['-namespace', c.namespace, '-address', c.grpcAddress, '-publish-binary', c.publishBinary, '-id', c.id, ...(c.debug ? ['-debug'] : [])];
}

// Through sys/spawner.ts (posix_spawn: Node's fork-based spawn blocks the daemon ~10 ms, and
// `start` is on the pod start path beside CNI).
async function run(c: ShimCommandContext, args: string[], stdin: Uint8Array | undefined, timeoutMs: number, what: string): Promise<RunResult> {
  const r = await runProcess({
    file: c.binary, args, cwd: c.bundle, env: shimEnv(c.ttrpcAddress), timeoutMs,
    detached: true, // own session and process group: the shim outlives the daemon
    ...(stdin ? { input: stdin } : {}),
  }).catch((err: unknown) => {
    throw new UnavailableError(`${what}: cannot run ${c.binary}: ${(err as Error).message}`, { cause: err });
  });
  if (r.timedOut) throw new DeadlineExceededError(`${what}: ${c.binary} did not answer within ${timeoutMs} ms`);
  return r;
}

const ADDRESS = /^unix:\/\/\/[^\s\0]+$/;

/** Runs `<shim> start`; returns the address it printed (unix:///path). */
export async function shimStart(c: ShimCommandContext, options: Uint8Array | undefined, timeoutMs: number): Promise<string> {
  const what = `shim start for task ${c.namespace}/${c.id}`;
  const r = await run(c, [...baseArgs(c), 'start'], options, timeoutMs, what);
  const text = r.combined.toString('utf8').trim();
  if (r.code !== 0) {
    throw new UnavailableError(`${what}: ${text.slice(0, 500)}: exit status ${r.code ?? r.signal}`);
  }
  if (!ADDRESS.test(text) || text.length > 200) {
    throw new InternalError(`${what}: shim printed ${JSON.stringify(text.slice(0, 200))}, not a unix:/// address`);
  }
  return text;
}

export interface ShimDeleteOutput {
  /** Raw DeleteResponse bytes; decode with the proto layer. */
  stdout: Buffer;
  stderr: string;
}

/** Runs `<shim> -bundle <b> delete` (5 s by default); throws when it fails. */
export async function shimDelete(c: ShimCommandContext, timeoutMs = 5_000): Promise<ShimDeleteOutput> {
  const what = `shim delete for task ${c.namespace}/${c.id}`;
  const r = await run(c, [...baseArgs(c), '-bundle', c.bundle, 'delete'], undefined, timeoutMs, what);
  if (r.code !== 0) {
    throw new UnavailableError(`${what}: ${r.stderr.toString('utf8').trim().slice(0, 500)}: exit status ${r.code ?? r.signal}`);
  }
  return { stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}
