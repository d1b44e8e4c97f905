import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENTS_SERVICE, TtrpcServer, containerd, eventsServiceMethods } from '../proto/index.js';
import { TtrpcPublisher } from './publisher.js';

interface Seen {
  topic: string;
  namespace: string;
  metadata: string | undefined;
  typeUrl: string;
  value: Uint8Array;
  seconds: number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempSocket(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-pub-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'events.sock');
}

async function eventsSink(socket: string): Promise<Seen[]> {
  const seen: Seen[] = [];
  const server = new TtrpcServer();
  server.register(EVENTS_SERVICE, eventsServiceMethods, {
    Forward: (req, ctx) => {
      const env = req.envelope;
      seen.push({
        topic: env?.topic ?? '', namespace: env?.namespace ?? '', metadata: ctx.namespace, typeUrl: env?.event?.type_url ?? '',
        value: env?.event?.value ?? new Uint8Array(0), seconds: Number(env?.timestamp?.seconds ?? 0),
      });
      return {};
    },
  });
  await server.listen(socket);
  cleanups.push(() => server.close());
  return seen;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
}

describe('TtrpcPublisher', () => {
  it('forwards events in order as Envelopes with the namespace in body and metadata', async () => {
    const socket = tempSocket();
    const seen = await eventsSink(socket);
    const pub = new TtrpcPublisher(socket, 'ns-a');
    cleanups.push(() => pub.close(1_000));
    pub.publish({ topic: '/tasks/create', event: { containerId: 'c', bundle: '/b', pid: 7 } });
    pub.publish({ topic: '/tasks/start', event: { containerId: 'c', pid: 7 } });
    pub.publish({ topic: '/tasks/exit', event: { containerId: 'c', id: 'c', pid: 7, exitStatus: 3, exitedAt: { seconds: 1_800_000_000, nanos: 0 } } });
    await pub.close(5_000);
    expect(seen.map((s) => s.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit']);
    expect(seen.every((s) => s.namespace === 'ns-a' && s.metadata === 'ns-a' && s.seconds > 0)).toBe(true);
    expect(seen[2]?.typeUrl).toBe('containerd.events.TaskExit');
    expect(containerd.events.TaskExit.decode(seen[2]?.value as Uint8Array)).toMatchObject({ containerId: 'c', id: 'c', exitStatus: 3 });
  });

  it('retries in the background while the receiver is not there yet', async () => {
    const socket = tempSocket();
    const pub = new TtrpcPublisher(socket, 'ns-b');
    cleanups.push(() => pub.close(1_000));
    pub.publish({ topic: '/tasks/oom', event: { containerId: 'c' } });
    await new Promise((r) => setTimeout(r, 200));
    const seen = await eventsSink(socket);
    await until(() => seen.length === 1);
    expect(seen.map((s) => s.topic)).toEqual(['/tasks/oom']);
  });

  it('drops events without an address instead of failing the caller', async () => {
    const pub = new TtrpcPublisher('', 'ns-c');
    expect(() => pub.publish({ topic: '/tasks/paused', event: { containerId: 'c' } })).not.toThrow();
    await pub.close(100);
  });
});
