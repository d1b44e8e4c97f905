// berth's gRPC server (docs/grpc.md) against clients that are not its own: grpc-js (a separate
// implementation of gRPC over HTTP/2), Node's HTTP/2 client (nghttp2) sending what grpc-go sends,
// and raw bytes for what no well-behaved client sends. The Go client's run is in
// test/integration/go-client.test.ts.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { createCriClients, runtime, runtimeServiceDefinition, imageServiceDefinition } from '../../proto/cri.js';
import { ContainerEventHub } from '../events/index.js';
import type { RuntimeDeps } from '../runtime/index.js';
import { serveCri, type CriBackends } from '../server.js';
import { parseTimeout } from './connection.js';
import { CLIENT_PREFACE, Flag, frame, FrameReader, FrameType, rstStreamFrame, settingsFrame, windowUpdateFrame, type Frame } from './frames.js';
import { BlockDecoder, literal, percentEncode, statusBlock } from './hpack.js';
import { GrpcServer, type ServerStream, type ServiceImpl } from './index.js';

const v1 = runtime.v1;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function socketPath(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-grpc-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'cri.sock');
}

const VERSION = { version: '0.1.0', runtimeName: 'berth', runtimeVersion: 'test', runtimeApiVersion: 'v1' };

/** Every runtime method UNIMPLEMENTED but those given. */
function runtimeImpl(given: ServiceImpl): ServiceImpl {
  const out: ServiceImpl = {};
  for (const [name, m] of Object.entries(runtimeServiceDefinition)) {
    out[name] = given[name] ?? (m.responseStream
      ? (call: ServerStream) => call.fail({ code: 12, message: 'no' })
      : (_c, reply) => reply({ code: 12, message: 'no' }));
  }
  return out;
}

async function server(given: ServiceImpl, opts: { maxReceiveBytes?: number } = {}): Promise<{ address: string; server: GrpcServer }> {
  const address = socketPath();
  const s = new GrpcServer({ log: silentLogger, ...opts });
  s.addService(runtimeServiceDefinition, runtimeImpl(given));
  await s.listen(address);
  cleanups.push(() => s.close(100));
  return { address, server: s };
}

function clients(address: string, options: Partial<grpc.ChannelOptions> = {}) {
  const c = createCriClients(address, { timeoutMs: 10_000, channelOptions: options });
  cleanups.push(() => c.close());
  return c;
}

const VERSION_PATH = '/runtime.v1.RuntimeService/Version';

function grpcMessage(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

function connectRaw(address: string): http2.ClientHttp2Session {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(address) });
  session.on('error', () => undefined);
  cleanups.push(() => new Promise<void>((r) => session.close(() => r())));
  return session;
}

interface RawAnswer { status: number; grpcStatus?: string; grpcMessage?: string; body: Buffer; rst: number }

/** One request on `session` as grpc-go sends it, with the given headers over the defaults. */
function rawCall(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': VERSION_PATH, ':authority': 'localhost', 'content-type': 'application/grpc',
      te: 'trailers', 'user-agent': 'grpc-go/1.51.0', ...headers,
    });
    const chunks: Buffer[] = [];
    const answer: Partial<RawAnswer> = {};
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) answer.grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) answer.grpcMessage = String(h['grpc-message']);
    };
    req.on('response', (h) => { answer.status = Number(h[':status']); take(h); });
    req.on('trailers', take);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => resolve({ ...answer, status: answer.status ?? 0, body: Buffer.concat(chunks), rst: req.rstCode ?? 0 }));
    if (headers[':method'] === 'GET') req.end();
    else req.end(body);
  });
}

const versionBody = () => grpcMessage(v1.VersionRequest.encode({ version: 'v1' }).finish());

function runtimeName(a: RawAnswer): string {
  expect(a.grpcStatus).toBe('0');
  return v1.VersionResponse.decode(a.body.subarray(5, 5 + a.body.readUInt32BE(1))).runtimeName;
}

describe('berth gRPC server with grpc-js and Node HTTP/2 clients', () => {
  it('answers unary calls, and errors with their code and message (UTF-8, percent-encoded on the wire)', async () => {
    const { address } = await server({
      Version: (_c, reply) => reply(null, VERSION),
      ContainerStatus: (call, reply) => reply({ code: 5, message: `container "${(call.request as { containerId: string }).containerId}" not found: é 100%` }),
    });
    const c = clients(address);
    expect((await c.runtime.Version({ version: 'v1' })).runtimeName).toBe('berth');
    await expect(c.runtime.ContainerStatus({ containerId: 'x\ny' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND, message: expect.stringContaining('container "x\ny" not found: é 100%'),
    });
    // the image service is not on this server: the route is unknown
    const images = createCriClients(address, { timeoutMs: 5_000 });
    cleanups.push(() => images.close());
    await expect(images.image.ImageFsInfo({})).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED, message: expect.stringContaining('unknown method /runtime.v1.ImageService/ImageFsInfo') });
  });

  it('serves a client that sends the socket path as :authority (grpc-go ≤ 1.54), call after call on one connection', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) });
    const session = connectRaw(address);
    // A different grpc-timeout per call fills the client's HPACK table and evicts older entries.
    for (let i = 0; i < 300; i++) {
      expect(runtimeName(await rawCall(session, { ':authority': address, 'grpc-timeout': `${100_000 + i * 7}u` }, versionBody()))).toBe('berth');
    }
    expect(runtimeName(await rawCall(connectRaw(address), { ':authority': encodeURIComponent(address) }, versionBody()))).toBe('berth');
  });

  it('moves messages larger than every window both ways, and many calls at once', async () => {
    const big = 'x'.repeat(5 * 1024 * 1024);
    const { address } = await server({
      Version: (call, reply) => reply(null, { ...VERSION, runtimeVersion: (call.request as { version: string }).version.length > 100 ? big : 'small' }),
    });
    const c = clients(address);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => c.runtime.Version({ version: i % 2 ? big : 'v1' })));
    expect(answers.map((a) => a.runtimeVersion.length)).toEqual([5, big.length, 5, big.length, 5, big.length]);
  });

  it('refuses a request past the receive limit with RESOURCE_EXHAUSTED and goes on serving', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) }, { maxReceiveBytes: 64 * 1024 });
    const c = clients(address);
    await expect(c.runtime.Version({ version: 'y'.repeat(100 * 1024) })).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((await c.runtime.Version({ version: 'v1' })).runtimeName).toBe('berth');
  });

  it('takes gzip-compressed requests (grpc-encoding) and refuses an encoding it does not know', async () => {
    const seen: string[] = [];
    const { address } = await server({ Version: (call, reply) => { seen.push((call.request as { version: string }).version); reply(null, VERSION); } });
    // grpc-js compresses every message with gzip when asked (2 = gzip)
    const c = clients(address, { 'grpc.default_compression_algorithm': 2 });
    expect((await c.runtime.Version({ version: 'z'.repeat(10_000) })).runtimeName).toBe('berth');
    expect(seen).toEqual(['z'.repeat(10_000)]);
    const a = await rawCall(connectRaw(address), { 'grpc-encoding': 'snappy' }, versionBody());
    expect(a.grpcStatus).toBe('12');
    expect(decodeURIComponent(a.grpcMessage!)).toContain('grpc-encoding snappy is not supported');
  });

  it('answers a request that is not gRPC with the HTTP status, and a malformed message with INTERNAL', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) });
    const session = connectRaw(address);
    expect((await rawCall(session, { ':method': 'GET' }, Buffer.alloc(0))).status).toBe(405);
    expect((await rawCall(session, { 'content-type': 'text/plain' }, versionBody())).status).toBe(415);
    const cut = await rawCall(session, {}, versionBody().subarray(0, 6));
    expect(cut).toMatchObject({ status: 200, grpcStatus: '13' });
    const garbage = await rawCall(session, {}, grpcMessage(Buffer.from([0xff, 0xff, 0xff])));
    expect(garbage.grpcStatus).toBe('13');
    expect(decodeURIComponent(garbage.grpcMessage!)).toContain('cannot decode the request');
    expect(runtimeName(await rawCall(session, {}, versionBody()))).toBe('berth');
  });

  it('reports DEADLINE_EXCEEDED for an answer ready after the deadline, and drops the answer of a cancelled call', async () => {
    let release: (() => void) | undefined;
    const { address } = await server({
      Version: (_c, reply) => { release = () => reply(null, VERSION); },
    });
    const session = connectRaw(address);
    const late = rawCall(session, { 'grpc-timeout': '50m' }, versionBody());
    await expect.poll(() => release).toBeDefined();
    await new Promise<void>((r) => setTimeout(r, 80)); // past the 50 ms deadline the client announced
    release!();
    expect((await late).grpcStatus).toBe('4');
    // a grpc-js call the client cancels: the server's answer after it goes nowhere, the connection lives
    const c = clients(address);
    release = undefined;
    const call = c.runtime.Version({ version: 'v1' }, { timeoutMs: 100 });
    await expect(call).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    release!();
    release = undefined;
    const next = c.runtime.Version({ version: 'v1' });
    await expect.poll(() => release).toBeDefined();
    release!();
    expect((await next).runtimeName).toBe('berth');
  });

  it('streams with backpressure: a client that stops reading stops the writer, a cancel reaches the handler', async () => {
    let written = 0;
    let cancelled = false;
    let waited = 0;
    const { address } = await server({
      GetContainerEvents: (call: ServerStream) => {
        call.on('cancelled', () => { cancelled = true; });
        void (async () => {
          while (!call.closed) {
            written++;
            if (!call.write({ containerId: 'c'.repeat(1000), containerEventType: 0 })) {
              waited++;
              await call.drained();
            }
          }
        })();
      },
    });
    const c = clients(address);
    const stream = c.runtime.GetContainerEvents({});
    stream.on('error', () => undefined); // CANCELLED, after the cancel below
    let read = 0;
    stream.on('data', () => {
      read++;
      if (read === 10) stream.pause();
    });
    await expect.poll(() => waited, { timeout: 10_000 }).toBeGreaterThan(0);
    const stalled = written;
    // The windows hold the rest: the writer does not run ahead while nobody reads.
    await new Promise<void>((r) => setImmediate(r));
    expect(written).toBe(stalled);
    expect(written).toBeLessThan(1000);
    stream.resume();
    await expect.poll(() => read, { timeout: 10_000 }).toBeGreaterThan(stalled);
    stream.cancel();
    await expect.poll(() => cancelled).toBe(true);
  });

  it('is how serveCri listens, and its close lets a call in flight finish (GOAWAY)', async () => {
    const address = socketPath();
    let release: (() => void) | undefined;
    const s = new GrpcServer({ log: silentLogger });
    s.addService(runtimeServiceDefinition, runtimeImpl({ Version: (_c, reply) => { release = () => reply(null, VERSION); } }));
    await s.listen(address);
    const c = clients(address);
    const call = c.runtime.Version({ version: 'v1' });
    await expect.poll(() => release).toBeDefined();
    const closed = s.close(5_000);
    release!();
    expect((await call).runtimeName).toBe('berth');
    await closed;
    expect(s.connections).toBe(0);

    const cri = socketPath();
    const daemon = await serveCri(cri, Promise.resolve({ deps: {} as RuntimeDeps, images: {} as CriBackends['images'] }), new ContainerEventHub(), silentLogger);
    cleanups.push(() => daemon.close(100));
    expect(runtimeName(await rawCall(connectRaw(cri), { ':authority': cri }, versionBody()))).toBe('berth');
    expect(Object.keys(imageServiceDefinition)).toContain('ImageFsInfo');
  });

  it('drops a connection that is not HTTP/2 or breaks the protocol, without hurting the next one', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) });
    for (const bytes of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      // preface, then a DATA frame on stream 0
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])]),
      // preface, then a HEADERS frame whose block is not HPACK
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 2, 1, 5, 0, 0, 0, 1, 0xff, 0xff])]),
    ]) {
      const sock = net.connect(address);
      const got: Buffer[] = [];
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.on('error', () => undefined);
      sock.on('data', (d: Buffer) => got.push(d));
      sock.write(bytes);
      await closed;
      if (bytes[0] === 0x50) { // an HTTP/2 client is told why: GOAWAY
        const reader = new FrameReader(1 << 20);
        reader.push(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), ...got]));
        reader.preface();
        const types: number[] = [];
        for (let f = reader.next(); f; f = reader.next()) types.push(f.type);
        expect(types).toContain(FrameType.GOAWAY);
      }
    }
    expect(runtimeName(await rawCall(connectRaw(address), {}, versionBody()))).toBe('berth');
  });
});

/** A client speaking raw frames: what it sent is up to the test, what it got is in `frames`. */
function rawClient(address: string): { sock: net.Socket; frames: Frame[]; closed: Promise<void> } {
  const sock = net.connect(address);
  const frames: Frame[] = [];
  const reader = new FrameReader(1 << 24, false);
  sock.on('data', (c: Buffer) => {
    reader.push(c);
    for (let f = reader.next(); f; f = reader.next()) frames.push({ ...f, payload: Buffer.from(f.payload) });
  });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  cleanups.push(() => { sock.destroy(); });
  // windows as grpc-go grants them at most: answers never wait on this client
  sock.write(Buffer.concat([CLIENT_PREFACE, settingsFrame([[4, 1 << 24]]), windowUpdateFrame(0, 1 << 24)]));
  return { sock, frames, closed };
}

/** A request header block as a client writes it (literals, no table). */
function requestBlock(method: string): Buffer {
  const out: number[] = [];
  for (const [k, v] of [[':method', 'POST'], [':scheme', 'http'], [':path', `/runtime.v1.RuntimeService/${method}`], [':authority', 'x'], ['content-type', 'application/grpc']]) literal(out, k!, v!);
  return Buffer.from(out);
}

const endStreams = (frames: Frame[], id: number) => frames.filter((f) => f.streamId === id && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM)).length;

describe('berth gRPC server against a client that misbehaves', () => {
  it('bounds the handlers running per connection: streams reset at once still count (HTTP/2 rapid reset)', async () => {
    let started = 0;
    const pending: Array<() => void> = [];
    const s = new GrpcServer({ log: silentLogger, maxConcurrentStreams: 50 });
    const address = socketPath();
    s.addService(runtimeServiceDefinition, runtimeImpl({ Version: (_c, reply) => { started++; pending.push(() => reply(null, VERSION)); } }));
    await s.listen(address);
    cleanups.push(() => s.close(100));
    const { sock, frames } = rawClient(address);
    const parts: Buffer[] = [];
    for (let i = 0, id = 1; i < 2000; i++, id += 2) {
      parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock('Version')), frame(FrameType.DATA, Flag.END_STREAM, id, versionBody()), rstStreamFrame(id, 8));
    }
    sock.write(Buffer.concat(parts));
    await expect.poll(() => frames.filter((f) => f.type === FrameType.RST_STREAM).length, { timeout: 10_000 }).toBe(2000 - 50);
    expect(started).toBe(50);
    for (const answer of pending.splice(0)) answer();
    // answered, they make room again
    sock.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 4001, requestBlock('Version')), frame(FrameType.DATA, Flag.END_STREAM, 4001, versionBody())]));
    await expect.poll(() => started).toBe(51);
  });

  it('resets a stream whose DATA overruns the window it was given (FLOW_CONTROL_ERROR)', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) });
    const { sock, frames } = rawClient(address);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(16 * 1024 * 1024 - 100, 1); // announced within the limit
    sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('Version')));
    sock.write(frame(FrameType.DATA, 0, 1, head));
    const chunk = frame(FrameType.DATA, 0, 1, Buffer.alloc(16_000, 7));
    // 20 MB without waiting for any WINDOW_UPDATE: past both the stream's and the connection's 16 MiB
    for (let i = 0; i < 1300 && !sock.destroyed; i++) sock.write(chunk);
    // the stream's window (its announced message) runs out first: the stream is reset
    await expect.poll(() => frames.find((f) => f.type === FrameType.RST_STREAM && f.streamId === 1)?.payload.readUInt32BE(0), { timeout: 30_000 }).toBe(3);
    expect(frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1)).toBe(false); // no answer began
  });

  it('stops reading a client that does not read: a PING flood leaves a bounded queue', async () => {
    const { address } = await server({ Version: (_c, reply) => reply(null, VERSION) });
    const { sock } = rawClient(address);
    sock.pause();
    const before = process.memoryUsage().arrayBuffers;
    const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => ping));
    let sent = 0;
    // the server stops reading once ~4 MB of ACKs wait: then the client's own writes back up
    while (sent < 200 && sock.write(batch)) sent++;
    await new Promise<void>((r) => setImmediate(r));
    expect(sent).toBeLessThan(200); // 34 MB of PINGs were not all taken
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  it('sends one status for a stream a write callback ends, and one answer for a handler that answers twice', async () => {
    const { address } = await server({
      Version: (_c, reply) => { reply(null, { ...VERSION, runtimeVersion: 'v'.repeat(100_000) }); reply(null, VERSION); },
      GetContainerEvents: (call: ServerStream) => { call.write({ containerId: 'c'.repeat(100_000) }, () => call.end()); },
    });
    const { sock, frames } = rawClient(address);
    sock.write(Buffer.concat([
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('GetContainerEvents')), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcMessage(Buffer.alloc(0))),
      frame(FrameType.HEADERS, Flag.END_HEADERS, 3, requestBlock('Version')), frame(FrameType.DATA, Flag.END_STREAM, 3, versionBody()),
    ]));
    await expect.poll(() => endStreams(frames, 1) + endStreams(frames, 3), { timeout: 10_000 }).toBe(2);
    await new Promise<void>((r) => setImmediate(r));
    expect([endStreams(frames, 1), endStreams(frames, 3)]).toEqual([1, 1]);
    const data = (id: number) => frames.filter((f) => f.streamId === id && f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
    const oneAnswer = v1.VersionResponse.encode({ ...VERSION, runtimeVersion: 'v'.repeat(100_000) }).finish().length + 5;
    expect(data(3)).toBe(oneAnswer);
  });

  it('cuts off a connection that sends no preface in time, and serves the next', async () => {
    const address = socketPath();
    const s = new GrpcServer({ log: silentLogger, prefaceTimeoutMs: 200 });
    s.addService(runtimeServiceDefinition, runtimeImpl({ Version: (_c, reply) => reply(null, VERSION) }));
    await s.listen(address);
    cleanups.push(() => s.close(100));
    const idle = net.connect(address);
    idle.on('error', () => undefined);
    await new Promise<void>((r) => idle.on('close', () => r()));
    expect(runtimeName(await rawCall(connectRaw(address), {}, versionBody()))).toBe('berth');
  });

  it('cuts a long status message so the trailer stays small, and the connection goes on', async () => {
    const { address } = await server({
      Version: (call, reply) => ((call.request as { version: string }).version === 'long' ? reply({ code: 9, message: '€'.repeat(8192) }) : reply(null, VERSION)),
    });
    const c = clients(address);
    const err = await c.runtime.Version({ version: 'long' }).then(() => undefined, (e: unknown) => e as { code: number; message: string });
    expect(err).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    expect(err!.message).toMatch(/^(€)+/);
    expect((await c.runtime.Version({ version: 'v1' })).runtimeName).toBe('berth');
  });
});

describe('gRPC header helpers', () => {
  it('parses grpc-timeout in every unit and refuses what is not one', () => {
    expect([parseTimeout('2H'), parseTimeout('3M'), parseTimeout('4S'), parseTimeout('5m'), parseTimeout('6000u'), parseTimeout('7000000n')])
      .toEqual([7_200_000, 180_000, 4000, 5, 6, 7]);
    expect(parseTimeout('123456789S')).toBeUndefined();
    expect(parseTimeout('10x')).toBeUndefined();
  });

  it('writes status blocks a standard HPACK decoder reads back', () => {
    expect(percentEncode('a b%\né')).toBe('a b%25%0A%C3%A9');
    const fields = new BlockDecoder().decode(statusBlock(5, 'not found: é', true), 1 << 16);
    expect(fields.map((f) => [f.name, f.value])).toEqual([
      [':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'not found: %C3%A9'],
    ]);
  });
});
