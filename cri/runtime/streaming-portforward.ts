// PortForward's backend: one TCP connection to 127.0.0.1:<port> inside the pod's network
// namespace per forwarded connection. Node cannot move one socket into another namespace, so a
// small helper process runs under `nsenter --net=<pod netns>` and pipes its stdio to the port
// (half-close both ways); for host-network pods the same helper runs without nsenter. It starts
// as every helper process does, through sys/ (spawnHelper).
import { FailedPreconditionError, UnavailableError } from '../../common/index.js';
import { spawnHelper } from '../../sys/index.js';
import type { BackendPortForwardRequest } from '../streaming/index.js';
import { sandboxState } from '../store/index.js';
import type { RuntimeDeps } from './deps.js';

const NSENTER = '/usr/bin/nsenter';

// argv[1] = port. Connects, pipes stdin -> socket (ending = half-close) and socket -> stdout;
// a failure goes to stderr as its message and exit code 1.
const HELPER = `
const net = require('node:net');
const s = net.connect(Number(process.argv[1]), '127.0.0.1');
s.once('connect', () => { process.stdin.pipe(s); s.pipe(process.stdout); });
s.once('error', (e) => { process.stderr.write(e.message); process.exitCode = 1; process.stdin.destroy(); });
s.once('close', () => process.stdin.destroy());
`;

/** The sandbox's netns path ("" = host network); NotFound / FailedPrecondition when not ready. */
export function readySandboxNetns(deps: Pick<RuntimeDeps, 'store'>, id: string): string {
  const sb = deps.store.sandboxes.get(id);
  const state = sandboxState(sb);
  if (state !== 'SANDBOX_READY') throw new FailedPreconditionError(`sandbox ${id} is in ${state} state, not ready`);
  return sb.netnsPath;
}

export function forwardPort(deps: Pick<RuntimeDeps, 'store' | 'log'>, req: BackendPortForwardRequest): Promise<void> {
  const netns = readySandboxNetns(deps, req.podSandboxId);
  const helper = [process.execPath, '-e', HELPER, String(req.port)];
  return runHelper(netns === '' ? helper : [NSENTER, `--net=${netns}`, '--', ...helper], req);
}

function runHelper(argv: string[], req: BackendPortForwardRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnHelper(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = child; // null only when the start failed ('error' follows)
    const abort = () => child.kill('SIGKILL');
    req.signal.addEventListener('abort', abort, { once: true });
    let errText = '';
    stderr?.on('data', (d: Buffer) => { if (errText.length < 4096) errText += d.toString(); });
    if (stdin) {
      stdin.on('error', () => undefined);
      req.stream.pipe(stdin);
    }
    stdout?.pipe(req.stream, { end: true });
    // The client's stream is gone: the helper must not outlive the connection.
    let hungUp = false;
    req.stream.once('close', () => { hungUp = true; child.kill('SIGKILL'); });
    child.once('error', (err) => {
      req.signal.removeEventListener('abort', abort);
      reject(new UnavailableError(`cannot run ${argv[0]}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      req.signal.removeEventListener('abort', abort);
      if (stdin) req.stream.unpipe(stdin);
      if (code === 0 || hungUp || req.signal.aborted) resolve();
      else reject(new UnavailableError(errText.trim() || `port forward helper exited with ${code ?? signal}`));
    });
  });
}
