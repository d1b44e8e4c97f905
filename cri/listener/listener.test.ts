import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { createCriClients, runtime, runtimeServiceDefinition } from '../../proto/cri.js';
import { ContainerEventHub } from '../events/index.js';
import type { RuntimeDeps } from '../runtime/index.js';
import { serveCri, type CriBackends } from '../server.js';
import { encodeHeaderBlock, FrameReader, FrameType } from './frames.js';
import { BlockDecoder, BlockEncoder, isValidAuthority, sanitizeAuthority } from './headers.js';
import { listenCri, type CriListener } from './listen.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function socketPath(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-listener-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'cri.sock');
}

/** A grpc-js server with only Version, behind the listener. */
async function versionServer(): Promise<{ address: string; listener: CriListener }> {
  const address = socketPath();
  const server = new grpc.Server();
  server.addService(runtimeServiceDefinition, {
    Version: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { version: '0.1.0', runtimeName: 'berth', runtimeVersion: 'test', runtimeApiVersion: 'v1' }),
  });
  const listener = await listenCri(address, server, silentLogger);
  cleanups.push(async () => {
    server.forceShutdown();
    await listener.close();
  });
  return { address, listener };
}

const VERSION_PATH = '/runtime.v1.RuntimeService/Version';

function grpcMessage(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/**
 * One Version call on `session` with the given :authority, as grpc-go up to v1.54 sends it over
 * a unix socket. Resolves to the runtime name, or rejects with the stream's reset code.
 */
function rawVersion(session: http2.ClientHttp2Session, authority: string, timeout: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': VERSION_PATH, ':authority': authority, 'content-type': 'application/grpc',
      te: 'trailers', 'grpc-timeout': timeout, 'user-agent': 'grpc-go/1.51.0',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => { grpcStatus = String(t['grpc-status']); });
    req.on('error', reject);
    req.on('close', () => {
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return reject(new Error(`stream reset with code ${req.rstCode}`));
      if (grpcStatus !== '0') return reject(new Error(`grpc-status ${grpcStatus}`));
      const body = Buffer.concat(chunks);
      resolve(runtime.v1.VersionResponse.decode(body.subarray(5, 5 + body.readUInt32BE(1))).runtimeName);
    });
    req.end(grpcMessage(runtime.v1.VersionRequest.encode({ version: 'v1' }).finish()));
  });
}

function connectRaw(address: string): http2.ClientHttp2Session {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(address) });
  cleanups.push(() => new Promise<void>((r) => session.close(() => r())));
  return session;
}

describe('the CRI listener', () => {
  it('serves a client that sends the socket path as :authority, over hundreds of calls on one connection', async () => {
    const { address, listener } = await versionServer();
    const session = connectRaw(address);
    // A different grpc-timeout per call fills the client's HPACK table, so the indexed
    // authority is evicted and sent again as a literal: every block must be rewritten.
    for (let i = 0; i < 300; i++) expect(await rawVersion(session, address, `${100_000 + i * 7}u`)).toBe('berth');
    expect(listener.stats).toEqual({ direct: 0, rewritten: 1 });
  });

  it('hands a client with a valid authority the socket itself (grpc-js and the percent-encoded form)', async () => {
    const { address, listener } = await versionServer();
    const clients = createCriClients(address, { timeoutMs: 5_000 });
    cleanups.push(() => clients.close());
    expect((await clients.runtime.Version({ version: 'v1' })).runtimeName).toBe('berth');
    const session = connectRaw(address);
    expect(await rawVersion(session, encodeURIComponent(address), '1S')).toBe('berth');
    expect(listener.stats).toEqual({ direct: 2, rewritten: 0 });
  });

  it('serves many clients with bad and good authorities at once', async () => {
    const { address, listener } = await versionServer();
    const calls = Array.from({ length: 8 }, (_, i) => {
      const session = connectRaw(address);
      return Promise.all(Array.from({ length: 20 }, () => rawVersion(session, i % 2 ? address : 'localhost', '5S')));
    });
    for (const names of await Promise.all(calls)) expect(names).toEqual(Array(20).fill('berth'));
    expect(listener.stats).toEqual({ direct: 4, rewritten: 4 });
  });

  it('is how serveCri listens: the daemon answers a bare-path :authority', async () => {
    const address = socketPath();
    const server = await serveCri(address, Promise.resolve({ deps: {} as RuntimeDeps, images: {} as CriBackends['images'] }), new ContainerEventHub(), silentLogger);
    cleanups.push(() => server.close(100));
    expect(await rawVersion(connectRaw(address), address, '5S')).toBe('berth');
  });

  it('drops a connection that is not HTTP/2 without hurting the next one', async () => {
    const { address } = await versionServer();
    const sock = net.connect(address);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => undefined);
    sock.resume();
    sock.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    expect(await rawVersion(connectRaw(address), address, '5S')).toBe('berth');
  });
});

describe('header blocks', () => {
  it('makes an authority valid without changing its length', () => {
    expect(isValidAuthority('/run/berth/berth.sock')).toBe(false);
    expect(isValidAuthority('%2Frun%2Fberth%2Fberth.sock')).toBe(true);
    expect(isValidAuthority('localhost')).toBe(true);
    expect(sanitizeAuthority('/run/x y.sock')).toBe('_run_x_y.sock');
  });

  it('re-encodes a block split over CONTINUATION frames with END_STREAM and priority kept', () => {
    const fields = [{ name: ':path', value: '/p' }, { name: 'x-big', value: 'v'.repeat(40_000) }];
    const block = new BlockEncoder().encode(fields);
    const priority = Buffer.from([0, 0, 0, 3, 15]);
    const frames = encodeHeaderBlock(5, block, true, priority, 16_384);
    expect(frames.length).toBeGreaterThan(1);
    const reader = new FrameReader({ expectPreface: false });
    reader.push(Buffer.concat(frames));
    const seen = [];
    for (let f = reader.next(); f; f = reader.next()) seen.push(f);
    expect(seen[0]!.type).toBe(FrameType.HEADERS);
    expect(seen[0]!.flags).toBe(0x1 | 0x20);
    expect(seen.slice(1).every((f) => f.type === FrameType.CONTINUATION && f.streamId === 5)).toBe(true);
    expect(seen.at(-1)!.flags).toBe(0x4);
    const joined = Buffer.concat([seen[0]!.payload.subarray(5), ...seen.slice(1).map((f) => f.payload)]);
    expect(new BlockDecoder().decode(joined).map((f) => [f.name, f.value])).toEqual(fields.map((f) => [f.name, f.value]));
  });
});
