// PortForward's backend: one TCP connection to 127.0.0.1:<port> inside the pod's network
// namespace per forwarded connection, made by the daemon itself (streaming-netns.ts) and piped
// both ways with backpressure and half-close; host-network pods are dialled directly. No process
// is started per connection (docs/streaming.md, "Port-forward").
import net from 'node:net';
import { FailedPreconditionError, UnavailableError } from '../../common/index.js';
import type { BackendPortForwardRequest } from '../streaming/index.js';
import { sandboxState } from '../store/index.js';
import type { RuntimeDeps } from './deps.js';
import { connectInNetns } from './streaming-netns.js';

/** How long a connection half-closed by one side waits for the other before it is closed. */
const HALF_CLOSED_LINGER_MS = 1000;

/** The sandbox's netns path ("" = host network); NotFound / FailedPrecondition when not ready. */
export function readySandboxNetns(deps: Pick<RuntimeDeps, 'store'>, id: string): string {
  const sb = deps.store.sandboxes.get(id);
  const state = sandboxState(sb);
  if (state !== 'SANDBOX_READY') throw new FailedPreconditionError(`sandbox ${id} is in ${state} state, not ready`);
  return sb.netnsPath;
}

export function forwardPort(deps: Pick<RuntimeDeps, 'store' | 'log'>, req: BackendPortForwardRequest): Promise<void> {
  const netns = readySandboxNetns(deps, req.podSandboxId);
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    try {
      sock = netns === '' ? net.connect({ port: req.port, host: '127.0.0.1', allowHalfOpen: true }) : connectInNetns(netns, req.port);
    } catch (err) {
      reject(new UnavailableError((err as Error).message, { cause: err }));
      return;
    }
    const abort = () => sock.destroy();
    const hangUp = () => sock.destroy(); // the client's stream is gone: so is the connection
    req.signal.addEventListener('abort', abort, { once: true });
    req.stream.once('close', hangUp);
    const wire = () => {
      req.stream.pipe(sock); // the client's FIN half-closes the connection
      sock.pipe(req.stream); // the pod's FIN ends the client's stream
    };
    if (sock.connecting) sock.once('connect', wire);
    else wire();
    // Once one direction is done, the other gets a second to finish, then the connection goes
    // (as containerd does: a client that keeps its side open must not pin it).
    let linger: NodeJS.Timeout | undefined;
    const oneSideDone = () => { linger ??= setTimeout(() => sock.destroy(), HALF_CLOSED_LINGER_MS); };
    sock.once('end', oneSideDone);
    req.stream.once('end', oneSideDone);
    let failure: Error | undefined;
    sock.once('error', (err) => { failure = err; });
    sock.once('close', () => {
      clearTimeout(linger);
      req.signal.removeEventListener('abort', abort);
      req.stream.off('close', hangUp);
      req.stream.off('end', oneSideDone);
      req.stream.unpipe(sock);
      if (failure && !req.signal.aborted && !req.stream.destroyed) reject(new UnavailableError(failure.message, { cause: failure }));
      else resolve();
    });
  });
}
