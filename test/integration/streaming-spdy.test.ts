// SPDY/3.1 against berth's streaming server: spdy-transport (a third-party SPDY client) for exec
// and port-forward, plus a kubectl-like client (streams named only by headers, as Go spdystream
// sends them) whose received bytes are checked against the frame layout of the SPDY/3.1 spec.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { StreamingServer } from '../../cri/streaming/index.js';
import { HostProcessBackend } from '../helpers/host-backend.js';
import { SpdySession } from '../../cri/streaming/spdy-session.js';
import { silentLogger } from '../../common/index.js';
import { spdyUpgrade, type SpdyUpgrade } from './streaming-raw-spdy.js';

const require = createRequire(import.meta.url);
const spdyTransport = require('spdy-transport') as {
  connection: { create(socket: Duplex, opts: { protocol: string; isServer: boolean }): SpdyTransportConnection };
};
interface SpdyTransportConnection {
  start(version: number): void;
  request(opts: { method: string; path: string; headers: Record<string, string> }, cb: (err: Error | null, stream: Duplex) => void): Duplex;
  end(): void;
}
const DICTIONARY = (require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3]!;

let server: StreamingServer;
const backend = new HostProcessBackend();
const sockets: net.Socket[] = [];

beforeAll(async () => { server = await StreamingServer.start({ backend }); });
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await server.close();
  backend.close();
});

type Upgraded = SpdyUpgrade;

async function upgrade(url: string, protocols: string[]): Promise<Upgraded> {
  const up = await spdyUpgrade(url, protocols);
  sockets.push(up.socket);
  return up;
}

function collect(stream: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    stream.once('end', () => resolve(Buffer.concat(chunks).toString()));
    stream.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function openTransport(up: Upgraded): SpdyTransportConnection {
  if (up.rest.length > 0) up.socket.unshift(up.rest);
  const conn = spdyTransport.connection.create(up.socket, { protocol: 'spdy', isServer: false });
  conn.start(3.1);
  up.socket.resume();
  return conn;
}

function request(conn: SpdyTransportConnection, headers: Record<string, string>): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    conn.request({ method: 'POST', path: '/', headers }, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

describe('SPDY/3.1 exec with spdy-transport', () => {
  it('negotiates v4 and carries stdin, stdout, stderr and the exit status', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['sh', '-c', 'cat; echo err >&2; exit 2'], stdin: true, stdout: true, stderr: true });
    const up = await upgrade(url, ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
    expect(up.status).toBe(101);
    expect(up.head).toMatch(/X-Stream-Protocol-Version: v4\.channel\.k8s\.io/i);
    const conn = openTransport(up);
    const error = await request(conn, { streamtype: 'error' });
    const stdin = await request(conn, { streamtype: 'stdin' });
    const stdout = await request(conn, { streamtype: 'stdout' });
    const stderr = await request(conn, { streamtype: 'stderr' });
    const [out, err, status] = [collect(stdout), collect(stderr), collect(error)];
    stdin.end('abc');
    expect(await out).toBe('abc');
    expect(await err).toBe('err\n');
    const st = JSON.parse(await status) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
    expect(st.status).toBe('Failure');
    expect(st.reason).toBe('NonZeroExitCode');
    expect(st.details.causes[0]).toEqual({ reason: 'ExitCode', message: '2' });
  });

  it('streams more than one flow-control window of output (spdy-transport enforces windows)', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['head', '-c', '1000000', '/dev/zero'], stdout: true });
    const up = await upgrade(url, ['v4.channel.k8s.io']);
    const conn = openTransport(up);
    const error = await request(conn, { streamtype: 'error' });
    const stdout = await request(conn, { streamtype: 'stdout' });
    const [out, status] = await Promise.all([collect(stdout), collect(error)]);
    expect(out.length).toBe(1_000_000);
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: 'Success' });
  });

  it('refuses unknown protocols with 403 and a missing protocol header with 400', async () => {
    const a = await upgrade(server.getExecUrl({ containerId: 'c', cmd: ['true'], stdout: true }).url, ['v9.channel.k8s.io']);
    expect(a.status).toBe(403);
    expect(a.head).toMatch(/X-Accepted-Stream-Protocol-Versions: v4\.channel\.k8s\.io, v3/i);
    const b = await upgrade(server.getExecUrl({ containerId: 'c', cmd: ['true'], stdout: true }).url, []);
    expect(b.status).toBe(400);
  });
});

describe('SPDY/3.1 as kubectl sends it (no :method/:path), checked byte by byte', () => {
  it('replies SYN_REPLY per spec, runs a TTY exec with resize, and ends with the v4 status', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['sh', '-c', 'echo ready; read x; stty size'], tty: true, stdin: true, stdout: true });
    const up = await upgrade(url, ['v4.channel.k8s.io']);
    expect(up.status).toBe(101);
    const raw: Buffer[] = [up.rest];
    up.socket.on('data', (c: Buffer) => raw.push(c));
    const session = new SpdySession(up.socket, { isServer: false, log: silentLogger });
    session.feed(up.rest);
    up.socket.resume();
    const error = await session.openStream({ streamType: 'error' });
    const stdin = await session.openStream({ streamType: 'stdin' });
    const stdout = await session.openStream({ streamType: 'stdout' });
    const resize = await session.openStream({ streamType: 'resize' });
    resize.write(JSON.stringify({ Width: 100, Height: 30 }));
    const status = collect(error);
    let text = '';
    stdout.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('ready') && !stdin.writableEnded) stdin.end('go\n');
    });
    await new Promise((r) => stdout.once('end', r));
    expect(text).toContain('30 100');
    expect(JSON.parse(await status)).toEqual({ metadata: {}, status: 'Success' });

    // Spec layout of the first frame the server sent: a control frame (C=1), version 3,
    // type 2 (SYN_REPLY), flags 0, 24-bit length, then stream id 1 and a zlib header block
    // compressed with the SPDY/3 dictionary.
    const bytes = Buffer.concat(raw);
    expect(bytes.readUInt16BE(0)).toBe(0x8003);
    expect(bytes.readUInt16BE(2)).toBe(2);
    expect(bytes[4]).toBe(0);
    const length = bytes.readUInt32BE(4) & 0xffffff;
    expect(bytes.readUInt32BE(8) & 0x7fffffff).toBe(1);
    const block = zlib.inflateSync(bytes.subarray(12, 8 + length), { dictionary: DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const pairs = block.readUInt32BE(0);
    expect(pairs).toBe(2);
    const nameLen = block.readUInt32BE(4);
    expect(block.subarray(8, 8 + nameLen).toString()).toBe(':status');
    // Somewhere after the replies: DATA frames (C=0) for stream 5 (stdout) ending with FIN,
    // and a DATA frame on stream 1 (error) carrying the status JSON.
    const frames = splitFrames(bytes);
    const stdoutData = frames.filter((f) => !f.control && f.id === 5);
    expect(stdoutData.at(-1)!.flags & 1).toBe(1);
    const errorData = frames.filter((f) => !f.control && f.id === 1).map((f) => f.body.toString()).join('');
    expect(errorData).toBe('{"metadata":{},"status":"Success"}');
    expect(frames.some((f) => f.control && f.type === 7)).toBe(true); // GOAWAY at the end
  });
});

describe('SPDY/3.1 port forward with spdy-transport', () => {
  let httpServer: http.Server;
  let port: number;
  beforeAll(async () => {
    httpServer = http.createServer((req, res) => res.end(`pf ${req.url}`));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    port = (httpServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
  });

  it('forwards several connections over one session and reports a refused port on the error stream', async () => {
    const { url } = server.getPortForwardUrl({ podSandboxId: 'pod-pf', port: [port] });
    const up = await upgrade(url, ['portforward.k8s.io']);
    expect(up.status).toBe(101);
    const conn = openTransport(up);
    const forward = async (id: string, p: number, path: string) => {
      const error = await request(conn, { streamtype: 'error', port: String(p), requestid: id });
      const data = await request(conn, { streamtype: 'data', port: String(p), requestid: id });
      const [body, err] = [collect(data), collect(error)];
      data.write(`GET ${path} HTTP/1.0\r\n\r\n`);
      return { body: await body, err: await err };
    };
    const results = await Promise.all([forward('0', port, '/one'), forward('1', port, '/two')]);
    expect(results[0]!.body).toContain('pf /one');
    expect(results[1]!.body).toContain('pf /two');
    expect(results[0]!.err).toBe('');
    const closedPort = await freePort();
    const bad = await forward('2', closedPort, '/');
    expect(bad.err).toMatch(new RegExp(`^error forwarding port ${closedPort} to pod pod-pf`));
  });
});

function splitFrames(b: Buffer): { control: boolean; type: number; id: number; flags: number; body: Buffer }[] {
  const out = [];
  let off = 0;
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off + 4) & 0xffffff;
    if (off + 8 + len > b.length) break;
    const control = (b[off]! & 0x80) !== 0;
    out.push({
      control, type: control ? b.readUInt16BE(off + 2) : 0, id: control ? 0 : b.readUInt32BE(off) & 0x7fffffff,
      flags: b[off + 4]!, body: b.subarray(off + 8, off + 8 + len),
    });
    off += 8 + len;
  }
  return out;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}
