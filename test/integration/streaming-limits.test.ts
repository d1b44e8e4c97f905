// The streaming server's caps, against clients that ask for more than they may: sessions at
// once, forwarded connections per session, unpaired port-forward streams, a WebSocket client
// that floods stdin or pings without reading, stdin sent after its close. Host processes stand in
// for containers (HostProcessBackend); the daemon-level proofs are in cri-streaming.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { isKind } from '../../common/index.js';
import { StreamingServer } from '../../cri/streaming/index.js';
import { HostProcessBackend } from '../helpers/host-backend.js';
import { RST_STREAM, REFUSED_STREAM, RawSpdyClient, spdyUpgrade } from './streaming-raw-spdy.js';

const MB = 1024 * 1024;
const backend = new HostProcessBackend();
let server: StreamingServer;
let httpServer: http.Server;
let httpPort = 0;

beforeAll(async () => {
  server = await StreamingServer.start({ backend, maxSessions: 2, maxForwards: 2, streamCreationTimeoutMs: 500 });
  httpServer = http.createServer((req, res) => res.end(`pf ${req.url}`));
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  httpPort = (httpServer.address() as AddressInfo).port;
});
afterAll(async () => {
  await server.close();
  backend.close();
  httpServer.closeAllConnections();
  await new Promise((r) => httpServer.close(r));
});

/** A v4 WebSocket exec session that is open (its first message arrived). */
async function wsExec(cmd: string[], stdin = false): Promise<WebSocket> {
  const { url } = server.getExecUrl({ containerId: 'c', cmd, stdin, stdout: true });
  const ws = new WebSocket(url, ['v5.channel.k8s.io']);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

const closed = (ws: WebSocket): Promise<void> =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((r) => ws.once('close', () => r()));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('sessions at once', () => {
  it('answers 429 past maxSessions without spending the token, and serves the same URL once a session ended', async () => {
    const a = await wsExec(['sleep', '30']);
    const b = await wsExec(['sleep', '30']);
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['echo', 'third'], stdout: true });
    const refused = await spdyUpgrade(url, ['v4.channel.k8s.io']);
    refused.socket.destroy();
    expect(refused.status).toBe(429);
    a.terminate();
    await until(() => server.activeSessions < 2, 'a session to end');
    const third = await spdyUpgrade(url, ['v4.channel.k8s.io']);
    third.socket.destroy();
    expect(third.status).toBe(101);
    b.terminate();
    await until(() => server.activeSessions === 0, 'the sessions to end');
  });
});

describe('port-forward caps', () => {
  it('refuses a SPDY stream past two per allowed connection (RST_STREAM REFUSED_STREAM) and still forwards the others', async () => {
    const { url } = server.getPortForwardUrl({ podSandboxId: 'pod' });
    const c = await RawSpdyClient.connect(url, 'portforward.k8s.io');
    try {
      const pair = async (first: number, requestid: string) => {
        await c.open(first, { streamtype: 'error', port: String(httpPort), requestid });
        await c.open(first + 2, { streamtype: 'data', port: String(httpPort), requestid });
      };
      await pair(1, '0');
      await pair(5, '1');
      await c.open(9, { streamtype: 'error', port: String(httpPort), requestid: '2' });
      c.data(3, Buffer.from('GET /a HTTP/1.0\r\n\r\n'));
      await until(() => c.text(3).includes('pf /a'), 'the first connection to be served');
      expect(c.control(RST_STREAM).map((f) => [f.payload.readUInt32BE(0), f.payload.readUInt32BE(4)])).toEqual([[9, REFUSED_STREAM]]);
    } finally {
      c.destroy();
    }
  });

  it('resets a port-forward stream whose partner does not come within the stream creation timeout', async () => {
    const { url } = server.getPortForwardUrl({ podSandboxId: 'pod' });
    const c = await RawSpdyClient.connect(url, 'portforward.k8s.io');
    try {
      await c.open(1, { streamtype: 'data', port: String(httpPort), requestid: 'lonely' });
      await until(() => c.control(RST_STREAM).length > 0, 'the unpaired stream to be reset', 5_000);
      expect(c.control(RST_STREAM)[0]!.payload.readUInt32BE(0)).toBe(1);
    } finally {
      c.destroy();
    }
  });

  it('refuses more ports than maxForwards: InvalidArgument from the CRI call, 400 for a WebSocket ?ports= list', async () => {
    let err: unknown;
    try {
      server.getPortForwardUrl({ podSandboxId: 'pod', port: [80, 81, 82] });
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'invalid-argument')).toBe(true);
    const { url } = server.getPortForwardUrl({ podSandboxId: 'pod' });
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${url}?ports=80,81,82`, ['v4.channel.k8s.io']);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('upgraded')));
      ws.once('error', () => undefined);
    });
    expect(status).toBe(400);
  });
});

describe('WebSocket clients that do not read or do not stop', () => {
  /** Writes `frame` (already a full WebSocket frame) for `ms` as fast as the kernel takes it; returns the bytes it took. */
  async function offer(sock: net.Socket, frame: Buffer, ms: number): Promise<number> {
    const batch = Buffer.concat(Array.from({ length: Math.ceil(64 * 1024 / frame.length) }, () => frame));
    let written = 0;
    for (const end = Date.now() + ms; Date.now() < end && !sock.destroyed;) {
      if (sock.writableLength > MB) { await new Promise((r) => setTimeout(r, 20)); continue; }
      sock.write(batch);
      written += batch.length;
    }
    return written - sock.writableLength;
  }

  /** A client frame (masked, as RFC 6455 requires of clients). */
  function clientFrame(opcode: number, payload: Buffer): Buffer {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    const len = payload.length;
    const head = len < 126 ? Buffer.of(0x80 | opcode, 0x80 | len)
      : Buffer.concat([Buffer.of(0x80 | opcode, 0x80 | 126), Buffer.from([len >> 8, len & 0xff])]);
    return Buffer.concat([head, mask, masked]);
  }

  /** A raw WebSocket upgrade for an exec URL; the socket is left paused (we never read). */
  function rawUpgrade(url: string): Promise<net.Socket> {
    const u = new URL(url);
    const sock = net.connect(Number(u.port), u.hostname);
    sock.write([`GET ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: v5.channel.k8s.io', '', ''].join('\r\n'));
    return new Promise((resolve, reject) => {
      sock.once('data', (c: Buffer) => {
        sock.pause();
        if (c.toString().startsWith('HTTP/1.1 101')) resolve(sock);
        else reject(new Error(c.toString()));
      });
      sock.once('error', reject);
    });
  }

  it('stops reading a client that floods the stdin of a command that never reads it', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['sleep', '30'], stdin: true, stdout: true });
    const sock = await rawUpgrade(url);
    try {
      const accepted = await offer(sock, clientFrame(2, Buffer.concat([Buffer.of(0), Buffer.alloc(32 * 1024)])), 3_000);
      expect(sock.destroyed).toBe(false); // held back, not dropped
      expect(accepted).toBeLessThan(64 * MB);
    } finally {
      sock.destroy();
    }
    await until(() => server.activeSessions === 0, 'the session to end');
  });

  it('drops a client that pings and never reads the pongs (ws: 60 pongs pending at most)', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['sleep', '30'], stdout: true });
    const sock = await rawUpgrade(url);
    sock.on('error', () => undefined);
    try {
      const accepted = await offer(sock, clientFrame(9, Buffer.alloc(125)), 5_000);
      expect(sock.destroyed).toBe(true);
      expect(accepted).toBeLessThan(64 * MB);
    } finally {
      sock.destroy();
    }
    await until(() => server.activeSessions === 0, 'the session to end');
  });

  it('ignores stdin sent after the client closed stdin (v5 close), instead of failing the session', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['cat'], stdin: true, stdout: true });
    const ws = new WebSocket(url, ['v5.channel.k8s.io']);
    let out = '';
    let status = '';
    ws.on('message', (m: Buffer) => {
      if (m[0] === 1) out += m.subarray(1).toString();
      if (m[0] === 3) status += m.subarray(1).toString();
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(Buffer.concat([Buffer.of(0), Buffer.from('before\n')]));
    ws.send(Buffer.of(255, 0));
    ws.send(Buffer.concat([Buffer.of(0), Buffer.from('after\n')]));
    await closed(ws);
    expect(out).toBe('before\n');
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: 'Success' });
  });
});
