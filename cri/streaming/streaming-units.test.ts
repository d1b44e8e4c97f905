import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { Code, isBerthError } from '../../common/index.js';
import { TokenCache } from './token-cache.js';
import { ResizeQueue } from './resize-queue.js';
import { errorStreamPayload, statusJson } from './status.js';
import { negotiate, splitHeaderList } from './protocols.js';
import { createRequire } from 'node:module';
import {
  FrameParser, HeaderCodec, MAX_CONTROL_PAYLOAD, MAX_HEADER_BLOCK, decodeHeaderBlock, encodeData, encodeHeaderBlock, encodeRst,
  encodeWindowUpdate,
} from './spdy-frames.js';

const DICTIONARY = (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3]!;

describe('TokenCache', () => {
  it('hands out 8-char URL-safe tokens that work once and expire after the TTL', () => {
    let now = 1000;
    const c = new TokenCache<string>({ ttlMs: 60_000, now: () => now });
    const t = c.insert('a');
    expect(t).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(c.consume(t)).toBe('a');
    expect(c.consume(t)).toBeUndefined();
    const t2 = c.insert('b');
    now += 60_000;
    expect(c.consume(t2)).toBeUndefined();
    expect(c.consume('garbage')).toBeUndefined();
  });

  it('refuses the 1001st outstanding request with ResourceExhausted, and frees room on expiry', () => {
    let now = 0;
    const c = new TokenCache<number>({ now: () => now });
    for (let i = 0; i < 1000; i++) c.insert(i);
    let err: unknown;
    try { c.insert(1000); } catch (e) { err = e; }
    expect(isBerthError(err) && err.code).toBe(Code.RESOURCE_EXHAUSTED);
    now += 60_001;
    expect(c.size).toBe(0);
    expect(c.insert(1)).toHaveLength(8);
  });
});

describe('ResizeQueue', () => {
  it('parses concatenated and split JSON objects, either key case, and drops junk', async () => {
    const q = new ResizeQueue();
    const it = q[Symbol.asyncIterator]();
    q.write('{"Width":80,"Height":24}{"width":1');
    expect(await it.next()).toEqual({ value: { width: 80, height: 24 }, done: false });
    q.write('00,"height":30}not json{"Width":-1,"Height":5}{"Width":"x"}');
    expect(await it.next()).toEqual({ value: { width: 100, height: 30 }, done: false });
    q.close();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('keeps only the newest size while the reader is behind (a flood cannot grow it)', async () => {
    const q = new ResizeQueue();
    for (let i = 1; i <= 10_000; i++) q.write(`{"Width":${i},"Height":1}`);
    q.close();
    const got = [];
    for await (const s of q) got.push(s);
    expect(got).toEqual([{ width: 10_000, height: 1 }]);
  });
});

describe('status payloads', () => {
  it('follows metav1.Status for v4 and plain text before', () => {
    expect(statusJson({ kind: 'exited', exitCode: 0 })).toBe('{"metadata":{},"status":"Success"}');
    const fail = JSON.parse(statusJson({ kind: 'exited', exitCode: 7 })) as Record<string, unknown>;
    expect(fail).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    expect(JSON.parse(statusJson({ kind: 'failed', message: 'boom' }))).toMatchObject({ reason: 'InternalError', code: 500 });
    expect(errorStreamPayload({ kind: 'exited', exitCode: 0 }, false)).toBeUndefined();
    expect(errorStreamPayload({ kind: 'failed', message: 'boom' }, false)).toBe('boom');
  });
});

describe('protocol negotiation', () => {
  it('takes the first client protocol the server supports', () => {
    expect(negotiate(['v5.x', 'v4.channel.k8s.io', 'channel.k8s.io'], ['channel.k8s.io', 'v4.channel.k8s.io'])).toBe('v4.channel.k8s.io');
    expect(negotiate(['nope'], ['channel.k8s.io'])).toBeUndefined();
    expect(splitHeaderList(['a, b', 'c'])).toEqual(['a', 'b', 'c']);
  });
});

describe('SPDY/3.1 frames (byte layout from the spec)', () => {
  it('encodes DATA, RST_STREAM and WINDOW_UPDATE exactly', () => {
    expect(encodeData(5, 1, Buffer.from('hi')).toString('hex')).toBe('00000005' + '01000002' + '6869');
    expect(encodeRst(3, 5).toString('hex')).toBe('80030003' + '00000008' + '00000003' + '00000005');
    expect(encodeWindowUpdate(0, 65536).toString('hex')).toBe('80030009' + '00000008' + '00000000' + '00010000');
  });

  it('encodes header blocks as count + length-prefixed lower-case names and values', () => {
    const block = encodeHeaderBlock({ streamType: 'error', port: '80' });
    expect(block.toString('hex')).toBe(
      '00000002' + '0000000a' + Buffer.from('streamtype').toString('hex') + '00000005' + Buffer.from('error').toString('hex')
      + '00000004' + Buffer.from('port').toString('hex') + '00000002' + Buffer.from('80').toString('hex'),
    );
    expect(decodeHeaderBlock(block)).toEqual({ streamtype: 'error', port: '80' });
    expect(() => decodeHeaderBlock(Buffer.from('00000001000000ff', 'hex'))).toThrow(/malformed/);
  });

  it('compresses with one zlib context per direction that a plain inflater with the dictionary reads', async () => {
    const a = new HeaderCodec();
    const b = new HeaderCodec();
    const first = await a.compress({ streamtype: 'stdout' });
    const second = await a.compress({ streamtype: 'stdin' });
    expect(await b.decompress(first)).toEqual({ streamtype: 'stdout' });
    expect(await b.decompress(second)).toEqual({ streamtype: 'stdin' });
    a.close();
    b.close();
    // zlib header 0x78 0xbb = deflate with a preset dictionary (FDICT), as SPDY/3 requires
    expect(first.subarray(0, 2).toString('hex')).toBe('78bb');
    expect(zlib.constants.Z_SYNC_FLUSH).toBeGreaterThan(0);
  });

  it('parses frames split at any byte and rejects other SPDY versions', () => {
    const bytes = Buffer.concat([encodeData(1, 1, Buffer.from('abc')), encodeRst(1, 5)]);
    const p = new FrameParser();
    const frames = [...bytes].flatMap((byte) => { p.push(Buffer.of(byte)); return p.drain(); });
    const data = frames.filter((f) => !f.control);
    expect(Buffer.concat(data.map((f) => f.data)).toString()).toBe('abc');
    expect(data.map((f) => [f.first, f.last, f.fin])).toEqual([[true, false, false], [false, false, false], [false, true, true]]);
    expect(frames.at(-1)).toMatchObject({ control: true, type: 3 });
    const v2 = new FrameParser();
    v2.push(Buffer.from('8002000300000000', 'hex'));
    expect(() => v2.next()).toThrow(/version 2/);
  });

  it('streams a DATA frame of any announced length in pieces, holding none of it', () => {
    const p = new FrameParser();
    const head = Buffer.from('00000003' + '00ffffff', 'hex'); // stream 3, 16 MiB - 1 announced
    p.push(Buffer.concat([head, Buffer.alloc(1000, 7)]));
    const first = p.next();
    expect(first).toMatchObject({ control: false, streamId: 3, first: true, last: false });
    expect(first?.control === false && first.data.length).toBe(1000);
    expect(p.buffered).toBe(0);
    expect(p.next()).toBeUndefined();
  });

  it('refuses a control frame longer than MAX_CONTROL_PAYLOAD from its header alone', () => {
    const big = new FrameParser();
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0x80030001, 0);
    header.writeUInt32BE(MAX_CONTROL_PAYLOAD + 1, 4);
    big.push(header);
    expect(() => big.next()).toThrow(/too large/);
  });

  it('stops inflating a header block past MAX_HEADER_BLOCK and stays broken', async () => {
    const bomb = zlib.deflateSync(Buffer.alloc(MAX_HEADER_BLOCK * 64), { dictionary: DICTIONARY, level: 9 });
    expect(bomb.length).toBeLessThan(MAX_CONTROL_PAYLOAD);
    const codec = new HeaderCodec();
    await expect(codec.decompress(bomb)).rejects.toThrow(/inflates past/);
    await expect(codec.decompress(Buffer.from('x'))).rejects.toThrow(/inflates past/);
    codec.close();
  });
});
