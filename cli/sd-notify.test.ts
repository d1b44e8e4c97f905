// sd_notify from the daemon's process to a real unix datagram socket (bound by python3), by path
// and in the abstract namespace. The daemon's READY=1 / STOPPING=1 are checked in
// test/integration/systemd-notify.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../common/index.js';
import { bindDatagramReceiver } from '../test/helpers/datagram-receiver.js';
import { takeSystemdNotifier } from './sd-notify.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sd-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A logger that keeps its warnings. */
function warnings(): { log: Logger; seen: string[] } {
  const seen: string[] = [];
  const log = { ...silentLogger, warn: (_o: unknown, msg?: string) => seen.push(msg ?? ''), child: () => log } as unknown as Logger;
  return { log, seen };
}

describe('takeSystemdNotifier', () => {
  for (const name of ['path', 'abstract']) {
    it(`sends each state as one datagram from this process, to ${name === 'path' ? 'a path' : 'an abstract'} socket, and removes NOTIFY_SOCKET`, async () => {
      const socket = name === 'path' ? path.join(dir, 'notify.sock') : `@berth-test-notify-${process.pid}`;
      const rx = await bindDatagramReceiver(socket);
      try {
        const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: '/usr/bin' };
        const n = takeSystemdNotifier(env, silentLogger);
        expect(env).toEqual({ PATH: '/usr/bin' });
        n!.notify('READY=1');
        n!.notify('STOPPING=1');
        await rx.next((d) => d.data === 'STOPPING=1');
        expect(rx.received).toEqual([{ data: 'READY=1', pid: process.pid }, { data: 'STOPPING=1', pid: process.pid }]);
      } finally {
        rx.close();
      }
    });
  }

  it('is undefined without NOTIFY_SOCKET, or with one that is neither a path nor an abstract name (warned)', () => {
    expect(takeSystemdNotifier({}, silentLogger)).toBeUndefined();
    expect(takeSystemdNotifier({ NOTIFY_SOCKET: '' }, silentLogger)).toBeUndefined();
    const w = warnings();
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: 'relative/notify.sock' };
    expect(takeSystemdNotifier(env, w.log)).toBeUndefined();
    expect(env.NOTIFY_SOCKET).toBeUndefined();
    expect(w.seen).toEqual([expect.stringContaining('NOTIFY_SOCKET')]);
  });

  it('a socket nobody listens on is logged, never thrown', () => {
    const w = warnings();
    const n = takeSystemdNotifier({ NOTIFY_SOCKET: path.join(dir, 'nobody.sock') }, w.log);
    n!.notify('READY=1');
    const long = takeSystemdNotifier({ NOTIFY_SOCKET: `/${'x'.repeat(200)}` }, w.log);
    long!.notify('READY=1');
    expect(w.seen).toEqual(['systemd notification failed', 'systemd notification failed']);
  });
});
