// The socket formula must match containerd-shim-runc-v2's byte for byte: containerd and berth's
// task manager find a running pod's shim by recomputing it.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { groupKey, shimSocketAddress } from './socket-address.js';

describe('shimSocketAddress', () => {
  it('is unix://<dir>/sha256hex(address/namespace/key), the digest node:crypto gives', () => {
    for (const [address, ns, key] of [
      ['/run/containerd/containerd.sock', 'k8s.io', 'a'.repeat(64)],
      ['/tmp/x/c.sock', 'default', 'pod-ünïcode-€'],
      ['', 'n', 'id'],
    ] as const) {
      const want = createHash('sha256').update(path.join(address, ns, key)).digest('hex');
      expect(shimSocketAddress(address, ns, key, '/run/containerd/s')).toBe(`unix:///run/containerd/s/${want}`);
    }
  });

  it('groups by the runc group annotation, then the sandbox id, else the task id', () => {
    expect(groupKey({ 'io.containerd.runc.v2.group': 'g', 'io.kubernetes.cri.sandbox-id': 's' }, 'id')).toBe('g');
    expect(groupKey({ 'io.kubernetes.cri.sandbox-id': 's' }, 'id')).toBe('s');
    expect(groupKey({}, 'id')).toBe('id');
  });
});
