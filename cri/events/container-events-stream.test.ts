// GetContainerEvents over a real gRPC socket: a subscriber the hub evicts, and one whose client
// stops reading, gets its stream ended with RESOURCE_EXHAUSTED (never left open and silent).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code, silentLogger } from '../../common/index.js';
import { createCriClients, runtime, type CriClients } from '../../proto/cri.js';
import { ContainerEventHub, MAX_SUBSCRIBERS } from './index.js';
import type { RuntimeDeps } from '../runtime/index.js';
import { serveCri, type CriBackends } from '../server.js';

type EventStream = ReturnType<CriClients['runtime']['GetContainerEvents']>;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(hub: ContainerEventHub): Promise<CriClients> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-events-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const address = path.join(dir, 'cri.sock');
  const backends = Promise.resolve({ deps: {} as RuntimeDeps, images: {} as CriBackends['images'] });
  const server = await serveCri(address, backends, hub, silentLogger);
  cleanups.push(() => server.close(100));
  const clients = createCriClients(address, { timeoutMs: 30_000 });
  cleanups.push(() => clients.close());
  return clients;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** How a stream ended: the status code of its error, or 'ok' when it ended cleanly. */
function outcome(s: EventStream): { readonly ended: 'ok' | number | undefined; readonly details: string; readonly received: number } {
  const o = { ended: undefined as 'ok' | number | undefined, details: '', received: 0 };
  s.on('data', () => { o.received++; });
  s.on('error', (err: { code?: number; details?: string }) => {
    o.ended = err.code ?? -1;
    o.details = err.details ?? '';
  });
  s.on('end', () => { o.ended ??= 'ok'; });
  cleanups.push(() => s.cancel());
  return o;
}

const event = (i: number): runtime.v1.ContainerEventResponse.$Properties => ({
  containerId: `${i}`.padStart(64, '0'), containerEventType: runtime.v1.ContainerEventType.CONTAINER_STARTED_EVENT,
  createdAt: i,
});

describe('GetContainerEvents subscribers the server drops', () => {
  it(`ends the oldest stream with RESOURCE_EXHAUSTED when a subscriber past ${MAX_SUBSCRIBERS} arrives`, async () => {
    const hub = new ContainerEventHub();
    const cri = await serve(hub);
    const streams = Array.from({ length: MAX_SUBSCRIBERS }, () => outcome(cri.runtime.GetContainerEvents({})));
    await until(() => hub.size === MAX_SUBSCRIBERS, 'every stream subscribed');
    const newest = outcome(cri.runtime.GetContainerEvents({}));
    await until(() => streams[0]!.ended !== undefined, 'the oldest stream to end');
    expect(streams[0]!.ended).toBe(Code.RESOURCE_EXHAUSTED);
    expect(streams[0]!.details).toMatch(/more than 64 subscribers.*subscribe again/);
    expect(hub.size).toBe(MAX_SUBSCRIBERS);
    // The others, the newest included, still get events.
    hub.emit(event(1));
    await until(() => newest.received === 1 && streams[1]!.received === 1, 'the event on the kept streams');
    expect(streams.slice(1).every((s) => s.ended === undefined)).toBe(true);
  });

  it('ends a stream whose client stopped reading with RESOURCE_EXHAUSTED, delivered once it reads again', async () => {
    const hub = new ContainerEventHub();
    const cri = await serve(hub);
    const stream = cri.runtime.GetContainerEvents({});
    const o = outcome(stream);
    await until(() => hub.size === 1, 'the stream subscribed');
    stream.pause();
    // Emit until the server gives up on the stream (flow control holds the rest in its buffer).
    let sent = 0;
    while (hub.size > 0 && sent < 500_000) {
      for (let i = 0; i < 500; i++) hub.emit(event(sent++));
      await new Promise((r) => setImmediate(r));
    }
    expect(hub.size).toBe(0);
    expect(o.ended).toBeUndefined();
    stream.resume();
    await until(() => o.ended !== undefined, 'the stream to end', 30_000);
    expect(o.ended).toBe(Code.RESOURCE_EXHAUSTED);
    expect(o.details).toMatch(/the client did not read \d+ events; subscribe again/);
    expect(o.received).toBeGreaterThan(0);
    expect(o.received).toBeLessThan(sent);
  }, 60_000);
});
