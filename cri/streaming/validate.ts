// CRI request validation, done when the URL is handed out (as containerd does), so a bad
// request fails the gRPC call with InvalidArgument instead of a broken stream later.
import { InvalidArgumentError } from '../../common/index.js';
import type { CachedRequest, CriAttachRequest, CriExecRequest, CriPortForwardRequest } from './types.js';

function checkStreams(what: string, r: { tty?: boolean | null; stdin?: boolean | null; stdout?: boolean | null; stderr?: boolean | null }) {
  if (r.tty && r.stderr) {
    throw new InvalidArgumentError(`${what}: tty and stderr cannot both be true`);
  }
  if (!r.stdin && !r.stdout && !r.stderr) {
    throw new InvalidArgumentError(`${what}: one of stdin, stdout, or stderr must be set`);
  }
}

function requireContainerId(what: string, id: string | null | undefined): string {
  if (!id) throw new InvalidArgumentError(`${what}: container_id is required`);
  return id;
}

export function validateExec(req: CriExecRequest): Extract<CachedRequest, { kind: 'exec' }> {
  const containerId = requireContainerId('exec', req.containerId);
  if (!req.cmd || req.cmd.length === 0) throw new InvalidArgumentError('exec: cmd is required');
  checkStreams('exec', req);
  return {
    kind: 'exec', containerId, cmd: [...req.cmd], tty: !!req.tty,
    stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr,
  };
}

export function validateAttach(req: CriAttachRequest): Extract<CachedRequest, { kind: 'attach' }> {
  const containerId = requireContainerId('attach', req.containerId);
  checkStreams('attach', req);
  return { kind: 'attach', containerId, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr };
}

export function validatePortForward(req: CriPortForwardRequest, maxPorts = Infinity): Extract<CachedRequest, { kind: 'portforward' }> {
  if (!req.podSandboxId) throw new InvalidArgumentError('port forward: pod_sandbox_id is required');
  const ports = [...(req.port ?? [])];
  if (ports.length > maxPorts) throw new InvalidArgumentError(`port forward: at most ${maxPorts} ports, got ${ports.length}`);
  for (const p of ports) checkPort(p);
  return { kind: 'portforward', podSandboxId: req.podSandboxId, ports };
}

export function checkPort(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    throw new InvalidArgumentError(`port ${String(p)} is not valid: must be 1-65535`);
  }
  return p;
}
