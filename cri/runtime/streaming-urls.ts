// Exec, Attach and PortForward: check the container is running / the sandbox is ready (as
// containerd does), then hand the validated request to the streaming server for a one-use URL.
import { UnavailableError } from '../../common/index.js';
import type { CriAttachRequest, CriExecRequest, CriPortForwardRequest } from '../streaming/index.js';
import type { RuntimeDeps } from './deps.js';
import { runningContainer } from './streaming-backend.js';
import { readySandboxNetns } from './streaming-portforward.js';

type Deps = Pick<RuntimeDeps, 'store' | 'streaming'>;

function server(deps: Deps): NonNullable<RuntimeDeps['streaming']> {
  if (!deps.streaming) throw new UnavailableError('the streaming server is not running');
  return deps.streaming;
}

export function execUrl(deps: Deps, id: string, req: CriExecRequest): { url: string } {
  runningContainer(deps, id);
  return server(deps).getExecUrl({ ...req, containerId: id });
}

export function attachUrl(deps: Deps, id: string, req: CriAttachRequest): { url: string } {
  runningContainer(deps, id);
  return server(deps).getAttachUrl({ ...req, containerId: id });
}

export function portForwardUrl(deps: Deps, id: string, req: CriPortForwardRequest): { url: string } {
  readySandboxNetns(deps, id);
  return server(deps).getPortForwardUrl({ ...req, podSandboxId: id });
}
