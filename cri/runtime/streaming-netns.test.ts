// connectInNetns against a real network namespace: a listener inside it and one on the host on
// the same port, so only a socket that really lives in the namespace reaches the right one.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isErrno } from '../../sys/index.js';
import { connectInNetns } from './streaming-netns.js';

const run = promisify(execFile);
const NAME = `berth-pf-test-${process.pid}`;
const NETNS = `/run/netns/${NAME}`;

function reply(sock: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    sock.on('data', (d: Buffer) => { text += d.toString(); });
    sock.once('end', () => resolve(text));
    sock.once('error', reject);
  });
}

describe('connectInNetns', () => {
  let inside: ChildProcess | undefined;
  let host: net.Server;
  let port = 0;

  beforeAll(async () => {
    await run('ip', ['netns', 'add', NAME]);
    await run('ip', ['netns', 'exec', NAME, 'ip', 'link', 'set', 'lo', 'up']);
    host = net.createServer((s) => s.end('from-host'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    port = (host.address() as AddressInfo).port;
    const code = `require('net').createServer((s) => s.end('from-netns')).listen(${port}, '127.0.0.1', () => console.log('ready'))`;
    const child = spawn('nsenter', [`--net=${NETNS}`, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    inside = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (c) => reject(new Error(`listener in the netns exited with ${c}`)));
    });
  });

  afterAll(async () => {
    inside?.kill('SIGKILL');
    host?.close();
    await run('ip', ['netns', 'del', NAME]).catch(() => undefined);
  });

  it('reaches the listener inside the namespace, not the host one on the same port, and leaves the thread where it was', async () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const sock = connectInNetns(NETNS, port);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
    expect(await reply(sock)).toBe('from-netns');
  });

  it('reports ECONNREFUSED when nothing listens in the namespace (from connect(2), or from the socket once the connect completes)', async () => {
    let refused: boolean;
    try {
      const sock = connectInNetns(NETNS, 1);
      refused = await new Promise<boolean>((resolve) => {
        sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
        sock.once('connect', () => resolve(false));
        sock.once('data', () => resolve(false));
      });
    } catch (e) {
      refused = isErrno(e, 'ECONNREFUSED');
    }
    expect(refused).toBe(true);
  });

  it('refuses a path that is not a namespace, still in its own namespace after', () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    expect(() => connectInNetns('/etc/hostname', port)).toThrow(/setns/);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
  });
});
