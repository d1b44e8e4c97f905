import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError, silentLogger } from '../common/index.js';
import { createCriClients, type CriClients } from '../proto/cri.js';
import { ContainerEventHub } from './events/index.js';
import type { RuntimeDeps } from './runtime/index.js';
import { serveCri, type CriBackends, type CriServer } from './server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serveWith(backends: Promise<CriBackends>): Promise<CriClients> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-cri-server-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const address = path.join(dir, 'cri.sock');
  const server: CriServer = await serveCri(address, backends, new ContainerEventHub(), silentLogger);
  cleanups.push(() => server.close(100));
  const clients = createCriClients(address, { timeoutMs: 5_000 });
  cleanups.push(() => clients.close());
  return clients;
}

describe('serveCri while the daemon recovers', () => {
  it('accepts connections at once and answers each call only after its backends are ready', async () => {
    let ready!: (b: CriBackends) => void;
    const clients = await serveWith(new Promise<CriBackends>((r) => { ready = r; }));
    let answered = false;
    const call = clients.runtime.Version({ version: 'v1' }).then((r) => { answered = true; return r; });
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    // Version needs no backend: empty ones stand in for the recovered daemon.
    ready({ deps: {} as RuntimeDeps, images: {} as CriBackends['images'] });
    expect((await call).runtimeName).toBe('berth');
  });

  it('fails the waiting calls with the start-up error when recovery fails', async () => {
    let fail!: (err: unknown) => void;
    const backends = new Promise<CriBackends>((_, f) => { fail = f; });
    backends.catch(() => undefined);
    const clients = await serveWith(backends);
    const call = clients.runtime.Version({ version: 'v1' });
    fail(new InternalError('store is corrupt'));
    await expect(call).rejects.toThrow(/store is corrupt/);
  });
});
