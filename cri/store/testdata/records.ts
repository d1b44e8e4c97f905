// Record builders shared by the store tests and the crash-writer child.
import type { ContainerRecord, SandboxRecord } from '../index.js';

export function sandboxRecord(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    v: 1,
    id,
    metadata: { name: 'web', uid: 'uid1', namespace: 'default', attempt: 0 },
    config: { metadata: { name: 'web', uid: 'uid1', namespace: 'default', attempt: 0 }, labels: { app: 'web' } },
    runtimeHandler: 'runc',
    createdAt: '1700000000000000000',
    stage: 'created',
    pid: 0,
    netnsPath: '',
    ip: '',
    additionalIps: [],
    ...over,
  };
}

export function containerRecord(id: string, sandboxId: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    v: 1,
    id,
    sandboxId,
    metadata: { name: 'app', attempt: 0 },
    config: { metadata: { name: 'app', attempt: 0 }, labels: { tier: 'front' } },
    imageRef: 'docker.io/library/busybox:latest',
    imageId: 'sha256:aaaa',
    logPath: '',
    createdAt: '1700000000500000000',
    pid: 0,
    ...over,
  };
}
