// berth under systemd's Type=notify (deploy/berth.service, docs/systemd.md), without systemd: the
// daemon is started with NOTIFY_SOCKET pointing at a unix datagram socket this test binds, as
// systemd would. READY=1 comes from the daemon's own pid once the CRI socket answers (nothing
// else has called it yet), never from a start that fails after binding it; STOPPING=1 comes on
// SIGTERM, before the daemon exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCriClients } from '../../proto/cri.js';
import { sendUnixDatagram, unmountAll } from '../../sys/index.js';
import { bundleEntry } from '../helpers/bundle.js';
import { bindDatagramReceiver, type DatagramReceiver } from '../helpers/datagram-receiver.js';
import { SANDBOX_IMAGE_UNREACHABLE } from './cri-harness.js';

let dir: string;
let rx: DatagramReceiver;
let child: ChildProcess | undefined;
let exited: Promise<number | null>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-notify-'));
  rx = await bindDatagramReceiver(path.join(dir, 'notify.sock'));
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  rx.close();
  unmountAll(dir);
  await rm(dir, { recursive: true, force: true });
});

const address = () => path.join(dir, 'berth.sock');
const daemonLog = () => readFileSync(path.join(dir, 'daemon.log'), 'utf8');

/** Starts the daemon as systemd would start deploy/berth.service, with `configLines` as its config. */
async function startDaemon(configLines: string[]): Promise<ChildProcess> {
  const netd = path.join(dir, 'net.d');
  mkdirSync(netd);
  await writeFile(path.join(dir, 'config.toml'), [
    `sandbox_image = "${SANDBOX_IMAGE_UNREACHABLE}"`, ...configLines, '[cni]', `conf_dir = "${netd}"`, '',
  ].join('\n'));
  const log = openSync(path.join(dir, 'daemon.log'), 'a');
  const c = spawn(process.execPath, [
    await bundleEntry('cli/berth.ts'), '--config', path.join(dir, 'config.toml'), '--address', address(),
    '--root', path.join(dir, 'root'), '--state', path.join(dir, 'state'),
  ], { stdio: ['ignore', log, log], env: { ...process.env, NOTIFY_SOCKET: path.join(dir, 'notify.sock') } });
  closeSync(log);
  exited = new Promise((r) => c.once('exit', (code) => r(code)));
  child = c;
  return c;
}

describe('systemd notify protocol', () => {
  it('READY=1 from the daemon\'s pid once the CRI socket answers, STOPPING=1 on SIGTERM', async () => {
    const c = await startDaemon([]);
    const ready = await rx.next((d) => d.data === 'READY=1', 60_000);
    // Nothing has called the socket before: it must answer now, at once.
    expect(existsSync(address())).toBe(true);
    const cri = createCriClients(address(), { timeoutMs: 5_000 });
    try {
      expect((await cri.runtime.Version({}, { timeoutMs: 2_000 })).runtimeName).toBe('berth');
    } finally {
      cri.close();
    }
    expect(ready.pid).toBe(c.pid);
    expect(rx.received.map((d) => d.data)).toEqual(['READY=1']);

    c.kill('SIGTERM');
    const stopping = await rx.next((d) => d.data === 'STOPPING=1', 30_000);
    expect(stopping.pid).toBe(c.pid);
    expect(await exited).toBe(0);
    expect(rx.received.map((d) => d.data)).toEqual(['READY=1', 'STOPPING=1']);
  });

  it('a start that fails (its streaming port taken) sends no READY=1', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      await startDaemon([`stream_server_port = ${(taken.address() as net.AddressInfo).port}`]);
      expect(await exited).toBe(1);
      expect(daemonLog()).toMatch(/EADDRINUSE/);
      // Datagrams arrive in order: once ours is in, anything the daemon sent is in too.
      sendUnixDatagram(path.join(dir, 'notify.sock'), Buffer.from('TEST=done'));
      await rx.next((d) => d.data === 'TEST=done');
      expect(rx.received.map((d) => d.data)).toEqual(['TEST=done']);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
