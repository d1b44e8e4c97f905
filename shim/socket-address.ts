// Where a pod's shim listens (docs/shim.md): one socket per (daemon address, namespace,
// group key), so every container of a pod finds the same shim. The group key is the first of
// `io.containerd.runc.v2.group`, `io.kubernetes.cri.sandbox-id` in config.json, else the task id.
// sha256 from @noble/hashes, not node:crypto: loading node:crypto costs a shim start ~5-10 ms.
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../common/index.js';
import { GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION } from '../proto/index.js';

export { GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION };
const DEFAULT_SOCKET_DIR = '/run/containerd/s';

/** Tests (and berth, to keep its sockets under its own state dir) may move the socket dir. */
export function socketDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_SHIM_SOCKET_DIR || DEFAULT_SOCKET_DIR;
}

export function groupKey(annotations: Readonly<Record<string, string>> | undefined, id: string): string {
  return annotations?.[GROUP_ANNOTATION] || annotations?.[SANDBOX_ID_ANNOTATION] || id;
}

/** Annotations of `<bundle>/config.json`; a missing or unreadable spec is an InvalidArgument. */
export function readAnnotations(bundle: string): Record<string, string> {
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${bundle}/config.json: ${(err as Error).message}`, { cause: err });
  }
  const ann = (spec as { annotations?: unknown } | null)?.annotations;
  if (ann === undefined || ann === null) return {};
  if (typeof ann !== 'object') throw new InvalidArgumentError('config.json: annotations is not an object');
  return ann as Record<string, string>;
}

/** `unix://<dir>/<sha256hex(join(address, ns, key))>`, the runc shim's formula. */
export function shimSocketAddress(address: string, namespace: string, key: string, dir = socketDir()): string {
  const hash = bytesToHex(sha256(utf8ToBytes(path.join(address, namespace, key))));
  return `unix://${path.join(dir, hash)}`;
}
