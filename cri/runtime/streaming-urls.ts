// Exec, Attach and PortForward: check the container is running / the sandbox is ready (as
// containerd does), then hand the validated request to the streaming server for a one-use URL.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { UnavailableError } from '../../common/index.js';
import type { CriAttachRequest, CriExecRequest, CriPortForwardRequest } from '../streaming/index.js';
import type { RuntimeDeps } from './deps.js';
import { runningContainer } from './streaming-backend.js';
import { readySandboxNetns } from './streaming-portforward.js';

type Deps = Pick<RuntimeDeps, 'store' | 'streaming' | 'streamingStarted'>;

async function server(deps: Deps): Promise<NonNullable<RuntimeDeps['streaming']>> {
  if (!deps.streaming) await deps.streamingStarted?.catch(() => undefined);
  if (!deps.streaming) throw new UnavailableError('the streaming server is not running');
  return deps.streaming;
}

export async function execUrl(deps: Deps, id: string, req: CriExecRequest): Promise<{ url: string }> {
  runningContainer(deps, id);
  return (await server(deps)).getExecUrl({ ...req, containerId: id });
}

export async function attachUrl(deps: Deps, id: string, req: CriAttachRequest): Promise<{ url: string }> {
  runningContainer(deps, id);
  return (await server(deps)).getAttachUrl({ ...req, containerId: id });
}

export async function portForwardUrl(deps: Deps, id: string, req: CriPortForwardRequest): Promise<{ url: string }> {
  readySandboxNetns(deps, id);
  return (await server(deps)).getPortForwardUrl({ ...req, podSandboxId: id });
}

/**
 * The address the streaming server binds and writes into URLs. An empty `stream_server_address`
 * means the node's primary IP, as containerd resolves it (the default route's interface, its
 * first IPv4 address; else the first non-loopback IPv4; else 127.0.0.1).
 */
export function streamServerAddress(configured: string): string {
  if (configured !== '') return configured;
  const v4 = (name: string) => os.networkInterfaces()[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  let routeIface: string | undefined;
  try {
    const lines = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1);
    routeIface = lines.map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '00000000' && f[7] === '00000000')?.[0];
  } catch {
    // no /proc/net/route: fall back to the interfaces
  }
  return (routeIface && v4(routeIface)) ?? Object.keys(os.networkInterfaces()).map(v4).find((a) => a !== undefined) ?? '127.0.0.1';
}
