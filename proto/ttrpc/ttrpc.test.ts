// Client and server over real unix sockets in a temp dir: every bad input ends in a specific
// status, never a crash or a hang.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Code, NotFoundError, isBerthError, type BerthError } from '../../common/index.js';
import {
  FrameDecoder, MAX_MESSAGE_SIZE, FrameType, TtrpcClient, TtrpcServer, createServiceClient, decodeResponse,
  encodeFrame, encodeHeader, encodeRequest, type DecodedFrame, type HandlerContext,
} from './index.js';
import type { MessageType } from '../message-type.js';

interface Echo {
  text: string;
  delayMs?: number;
  size?: number;
}

// A JSON "message type" is enough to drive the protocol; generated protobuf types plug in the same way.
function jsonType<T>(): MessageType<T> {
  return {
    encode: (m) => ({ finish: () => Buffer.from(JSON.stringify(m)) }),
    decode: (b) => JSON.parse(Buffer.from(b).toString('utf8')) as T,
  };
}
const methods = {
  Echo: { requestType: jsonType<Echo>(), responseType: jsonType<Echo>() },
  Hang: { requestType: jsonType<Echo>(), responseType: jsonType<Echo>() },
  Fail: { requestType: jsonType<Echo>(), responseType: jsonType<Echo>() },
  Big: { requestType: jsonType<Echo>(), responseType: jsonType<Echo>() },
  Unregistered: { requestType: jsonType<Echo>(), responseType: jsonType<Echo>() },
};
const SERVICE = 'berth.test.v1.Echo';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function codeOf(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!isBerthError(e)) throw e;
    return { code: (e as BerthError).code, message: e.message };
  }
  throw new Error('expected the call to fail');
}

/** Sends raw bytes on a fresh connection and collects `count` frames (or until the socket closes). */
async function rawExchange(socketPath: string, bytes: Buffer[], count: number, idleMs = 300): Promise<DecodedFrame[]> {
  const sock = net.createConnection({ path: socketPath });
  const dec = new FrameDecoder();
  const got: DecodedFrame[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.once('connect', () => resolve());
    });
    const done = new Promise<void>((resolve) => {
      let idle = setTimeout(resolve, idleMs * 10);
      sock.on('data', (c: Buffer) => {
        got.push(...dec.push(c));
        if (got.length >= count) {
          clearTimeout(idle);
          idle = setTimeout(resolve, idleMs);
        }
      });
      sock.on('close', () => resolve());
    });
    for (const b of bytes) sock.write(b);
    await done;
    return got;
  } finally {
    sock.destroy();
  }
}

function requestFrame(streamId: number, service: string, method: string, payload: Uint8Array, timeoutNano = 0): Buffer {
  return encodeFrame(streamId, FrameType.REQUEST, encodeRequest({ service, method, payload, timeoutNano, metadata: [] }));
}

function statusOf(f: DecodedFrame | undefined) {
  if (!f || f.kind !== 'frame') throw new Error(`expected a response frame, got ${JSON.stringify(f)}`);
  return decodeResponse(f.payload).status;
}

describe('ttrpc client and server', () => {
  let dir: string;
  let sockPath: string;
  let server: TtrpcServer;
  let clients: TtrpcClient[];
  const seen: { ctx: HandlerContext; aborted?: unknown }[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-ttrpc-'));
    sockPath = path.join(dir, 'ttrpc.sock');
    clients = [];
    seen.length = 0;
    server = new TtrpcServer();
    server.register(SERVICE, methods, {
      Echo: async (req, ctx) => {
        seen.push({ ctx });
        if (req.delayMs) await sleep(req.delayMs);
        return { text: `${req.text}@${ctx.namespace ?? '-'}` };
      },
      Hang: (_req, ctx) =>
        new Promise((_, reject) => {
          const entry: { ctx: HandlerContext; aborted?: unknown } = { ctx };
          seen.push(entry);
          ctx.signal.addEventListener('abort', () => {
            entry.aborted = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          });
        }),
      Fail: (req) => {
        if (req.text === 'plain') throw new Error('boom');
        if (req.text === 'huge') throw new NotFoundError(`container ${'x'.repeat(5 << 20)}: not found`);
        if (req.text === 'errno') throw Object.assign(new Error('open /x: no such file'), { code: 'ENOENT' });
        throw new NotFoundError(`container ${req.text}: not found`);
      },
      Big: (req) => ({ text: 'x'.repeat(req.size ?? 0) }),
    });
    await server.listen(sockPath);
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    server.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function connect(namespace?: string, onClose?: (cause?: Error) => void, defaultTimeoutMs?: number): Promise<TtrpcClient> {
    const c = await TtrpcClient.connect(`unix://${sockPath}`, { namespace, onClose, defaultTimeoutMs });
    clients.push(c);
    return c;
  }

  it('round-trips a typed call with metadata and namespace', async () => {
    const c = await connect('berth-ns');
    const echo = createServiceClient(c, SERVICE, methods);
    expect(await echo.Echo({ text: 'hi' }, { metadata: { 'X-Trace': ['a', 'b'] }, timeoutMs: 5_000 })).toEqual({ text: 'hi@berth-ns' });
    const ctx = seen[0]!.ctx;
    expect(ctx.metadata.get('x-trace')).toEqual(['a', 'b']);
    expect(ctx.metadata.get('containerd-namespace-ttrpc')).toEqual(['berth-ns']);
    expect(ctx.deadline).toBeGreaterThan(Date.now());
  });

  it('answers 100 concurrent calls that finish out of order, each matched to its caller', async () => {
    const echo = createServiceClient(await connect(), SERVICE, methods);
    const calls = Array.from({ length: 100 }, (_, i) => echo.Echo({ text: `m${i}`, delayMs: (100 - i) % 17 }));
    const replies = await Promise.all(calls);
    expect(replies.map((r) => r.text)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}@-`));
  });

  it('turns a handler error into a typed error with its gRPC code', async () => {
    const echo = createServiceClient(await connect(), SERVICE, methods);
    const err = await echo.Fail({ text: 'c9' }).catch((e: unknown) => e);
    expect(isBerthError(err) && err.kind).toBe('not-found');
    expect((err as Error).message).toBe('container c9: not found');
    expect(await codeOf(echo.Fail({ text: 'plain' }))).toEqual({ code: Code.UNKNOWN, message: 'boom' });
    expect(await codeOf(echo.Fail({ text: 'errno' }))).toEqual({ code: Code.NOT_FOUND, message: 'open /x: no such file' });
  });

  it('applies the client default deadline unless a call opts out with timeoutMs 0', async () => {
    const echo = createServiceClient(await connect(undefined, undefined, 50), SERVICE, methods);
    expect((await codeOf(echo.Hang({ text: '' }))).code).toBe(Code.DEADLINE_EXCEEDED);
    expect(seen[0]!.ctx.deadline).toBeDefined();
    expect((await echo.Echo({ text: 'w', delayMs: 100 }, { timeoutMs: 0 })).text).toBe('w@-');
    expect(seen[1]!.ctx.deadline).toBeUndefined();
  });

  it('answers UNIMPLEMENTED for an unknown service or method and keeps the connection', async () => {
    const c = await connect();
    expect(await codeOf(c.call('no.such.Service', 'Echo', new Uint8Array(0)))).toEqual({
      code: Code.UNIMPLEMENTED, message: 'service no.such.Service',
    });
    expect(await codeOf(createServiceClient(c, SERVICE, methods).Unregistered({ text: '' }))).toEqual({
      code: Code.UNIMPLEMENTED, message: 'method Unregistered',
    });
    expect((await createServiceClient(c, SERVICE, methods).Echo({ text: 'still' })).text).toBe('still@-');
  });

  it('answers INTERNAL for a payload that does not decode', async () => {
    const c = await connect();
    const r = await codeOf(c.call(SERVICE, 'Echo', Buffer.from('{not json')));
    expect(r.code).toBe(Code.INTERNAL);
    expect(r.message).toMatch(/^ttrpc: error unmarshalling payload: /);
  });

  it('answers INVALID_ARGUMENT for an even stream id', async () => {
    const frames = await rawExchange(sockPath, [requestFrame(2, SERVICE, 'Echo', Buffer.from('{"text":"x"}'))], 1);
    expect(frames[0]?.streamId).toBe(2);
    expect(statusOf(frames[0])).toEqual({ code: Code.INVALID_ARGUMENT, message: 'StreamID must be odd for client initiated streams' });
  });

  it('ignores unknown frame types, rejects a garbage request body, and keeps serving', async () => {
    const garbageType = Buffer.concat([encodeHeader({ length: 3, streamId: 1, type: 0x07, flags: 0 }), Buffer.from('abc')]);
    const garbageBody = Buffer.concat([encodeHeader({ length: 4, streamId: 3, type: 1, flags: 0 }), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    const good = requestFrame(5, SERVICE, 'Echo', Buffer.from('{"text":"after"}'));
    const frames = await rawExchange(sockPath, [garbageType, garbageBody, good], 2);
    expect(frames.map((f) => f.streamId)).toEqual([3, 5]);
    const s3 = statusOf(frames[0]);
    expect(s3?.code).toBe(Code.INVALID_ARGUMENT);
    expect(s3?.message).toMatch(/^unmarshal request error: /);
    const f5 = frames[1]!;
    expect(f5.kind === 'frame' && Buffer.from(decodeResponse(f5.payload).payload).toString()).toBe('{"text":"after@-"}');
  });

  it('answers RESOURCE_EXHAUSTED for an oversized request and survives it', async () => {
    const n = MAX_MESSAGE_SIZE + 1;
    const big = Buffer.concat([encodeHeader({ length: n, streamId: 1, type: 1, flags: 0 }), Buffer.alloc(n)]);
    const good = requestFrame(3, SERVICE, 'Echo', Buffer.from('{"text":"ok"}'));
    const frames = await rawExchange(sockPath, [big, good], 2);
    expect(frames.map((f) => f.streamId)).toEqual([1, 3]);
    expect(statusOf(frames[0])).toEqual({
      code: Code.RESOURCE_EXHAUSTED, message: `message length ${n} exceed maximum message size of 4194304`,
    });
  });

  it('refuses to send an oversized request or reply', async () => {
    const c = await connect();
    const echo = createServiceClient(c, SERVICE, methods);
    const sent = await codeOf(echo.Echo({ text: 'y'.repeat(MAX_MESSAGE_SIZE) }));
    expect(sent.code).toBe(Code.RESOURCE_EXHAUSTED);
    const reply = await codeOf(echo.Big({ text: '', size: MAX_MESSAGE_SIZE }));
    expect(reply.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(reply.message).toMatch(/^message length \d+ exceed maximum message size of 4194304$/);
    expect((await echo.Echo({ text: 'fine' })).text).toBe('fine@-');
  });

  it('fails a call locally with DEADLINE_EXCEEDED, drops the late reply, and aborts the handler', async () => {
    const c = await connect();
    const echo = createServiceClient(c, SERVICE, methods);
    expect((await codeOf(echo.Echo({ text: 'slow', delayMs: 300 }, { timeoutMs: 50 }))).code).toBe(Code.DEADLINE_EXCEEDED);
    expect((await codeOf(echo.Hang({ text: '' }, { timeoutMs: 50 }))).code).toBe(Code.DEADLINE_EXCEEDED);
    await sleep(350); // the late Echo reply arrives now and must be dropped quietly
    expect(c.pendingCalls).toBe(0);
    expect((await echo.Echo({ text: 'next' })).text).toBe('next@-');
    const hang = seen.find((s) => s.ctx.method === 'Hang')!;
    expect(isBerthError(hang.aborted) && hang.aborted.kind).toBe('deadline-exceeded');
  });

  it('answers DEADLINE_EXCEEDED from the server when timeout_nano passes', async () => {
    const frames = await rawExchange(sockPath, [requestFrame(1, SERVICE, 'Hang', Buffer.from('{"text":""}'), 40_000_000)], 1);
    expect(statusOf(frames[0])?.code).toBe(Code.DEADLINE_EXCEEDED);
  });

  it('fails every pending call with UNAVAILABLE when the connection drops, and reports it once', async () => {
    const closes: (Error | undefined)[] = [];
    const c = await connect(undefined, (cause) => closes.push(cause));
    const echo = createServiceClient(c, SERVICE, methods);
    const pending = Array.from({ length: 5 }, () => codeOf(echo.Hang({ text: '' })));
    while (seen.length < 5) await sleep(5);
    server.destroy();
    for (const r of await Promise.all(pending)) expect(r).toEqual({ code: Code.UNAVAILABLE, message: 'ttrpc: closed' });
    expect(await codeOf(echo.Echo({ text: 'late' }))).toEqual({ code: Code.UNAVAILABLE, message: 'ttrpc: closed' });
    expect(closes).toHaveLength(1);
    expect(isBerthError(closes[0]) && closes[0].kind).toBe('unavailable');
    await c.close();
    await c.close();
    expect(closes).toHaveLength(1);
    // handlers of the dropped connection learn about it
    await sleep(20);
    expect(seen.every((s) => s.aborted !== undefined)).toBe(true);
  });

  it('close() is idempotent, fails pending calls, and reports a local close without a cause', async () => {
    const closes: (Error | undefined)[] = [];
    const c = await connect(undefined, (cause) => closes.push(cause));
    const p = codeOf(c.call(SERVICE, 'Hang', Buffer.from('{"text":""}')));
    await Promise.all([c.close(), c.close()]);
    expect(await p).toEqual({ code: Code.UNAVAILABLE, message: 'ttrpc: closed' });
    expect(closes).toEqual([undefined]);
  });

  it('cancels a call through an AbortSignal', async () => {
    const c = await connect();
    const ac = new AbortController();
    const p = codeOf(createServiceClient(c, SERVICE, methods).Hang({ text: '' }, { signal: ac.signal }));
    ac.abort();
    expect((await p).code).toBe(Code.CANCELLED);
  });

  it('graceful close lets an in-flight call finish, then refuses connections', async () => {
    const echo = createServiceClient(await connect(), SERVICE, methods);
    const inflight = echo.Echo({ text: 'drain', delayMs: 100 });
    while (seen.length < 1) await sleep(5);
    const closing = server.close({ timeoutMs: 5_000 });
    expect((await inflight).text).toBe('drain@-');
    await closing;
    expect((await codeOf(TtrpcClient.connect(sockPath))).code).toBe(Code.UNAVAILABLE);
  });

  it('refuses to take over a live socket path but replaces a stale socket file', async () => {
    const second = new TtrpcServer();
    const err = await second.listen(sockPath).catch((e: unknown) => e);
    expect(isBerthError(err) && err.kind).toBe('already-exists');
    // A stale file: bound by a process that died without removing it.
    const stalePath = path.join(dir, 'stale.sock');
    const script = `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`;
    expect(spawnSync(process.execPath, ['-e', script]).signal).toBe('SIGKILL');
    expect(existsSync(stalePath)).toBe(true);
    await second.listen(stalePath);
    try {
      const c = await TtrpcClient.connect(stalePath);
      clients.push(c);
      expect((await codeOf(c.call('x', 'y', new Uint8Array(0)))).code).toBe(Code.UNIMPLEMENTED);
    } finally {
      second.destroy();
    }
  });

  it('answers a handler error with a huge message, cut short, instead of never answering', async () => {
    const c = await connect();
    const err = await codeOf(createServiceClient(c, SERVICE, methods).Fail({ text: 'huge' }, { timeoutMs: 5_000 }));
    expect(err.code).toBe(Code.NOT_FOUND);
    expect(err.message).toMatch(/^container x+\.\.\. \(truncated\)$/);
    expect(err.message.length).toBeLessThan(MAX_MESSAGE_SIZE);
    // The connection is still good.
    expect((await createServiceClient(c, SERVICE, methods).Echo({ text: 'after' })).text).toBe('after@-');
  });

  it('rejects (never throws) a connect to an address it cannot use', async () => {
    let p: Promise<TtrpcClient> | undefined;
    expect(() => { p = TtrpcClient.connect('http://example.com/sock'); }).not.toThrow();
    await expect(p).rejects.toMatchObject({ kind: 'invalid-argument', message: expect.stringContaining('unsupported address scheme') });
    await expect(TtrpcClient.connect('')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('fails connect to a missing socket with UNAVAILABLE and serves abstract names', async () => {
    expect((await codeOf(TtrpcClient.connect(path.join(dir, 'nope.sock')))).code).toBe(Code.UNAVAILABLE);
    const name = `berth-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const abstract = new TtrpcServer();
    abstract.register(SERVICE, methods, { Echo: (r) => ({ text: `abstract ${r.text}` }) });
    await abstract.listen(name);
    try {
      const c = await TtrpcClient.connect(name);
      clients.push(c);
      expect((await createServiceClient(c, SERVICE, methods).Echo({ text: 'x' })).text).toBe('abstract x');
    } finally {
      abstract.destroy();
    }
  });

  it('fails a call whose reply frame is oversized or of the wrong type', async () => {
    const rawPath = path.join(dir, 'raw.sock');
    const raw = net.createServer((s) => {
      const dec = new FrameDecoder();
      s.on('data', (chunk: Buffer) => {
        for (const f of dec.push(chunk)) {
          if (f.streamId === 1) {
            const n = MAX_MESSAGE_SIZE + 10;
            s.write(Buffer.concat([encodeHeader({ length: n, streamId: 1, type: 2, flags: 0 }), Buffer.alloc(n)]));
          } else {
            s.write(encodeFrame(f.streamId, FrameType.REQUEST, new Uint8Array(0)));
          }
        }
      });
    });
    await new Promise<void>((r) => raw.listen(rawPath, r));
    try {
      const c = await TtrpcClient.connect(rawPath);
      clients.push(c);
      expect(await codeOf(c.call('s', 'm', new Uint8Array(0)))).toEqual({
        code: Code.RESOURCE_EXHAUSTED, message: `message length ${MAX_MESSAGE_SIZE + 10} exceed maximum message size of 4194304`,
      });
      expect(await codeOf(c.call('s', 'm', new Uint8Array(0)))).toEqual({ code: Code.UNKNOWN, message: 'ttrpc: unknown message type received' });
    } finally {
      for (const c of clients) await c.close();
      await new Promise((r) => raw.close(r));
    }
  });
});
