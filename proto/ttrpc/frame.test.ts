import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import {
  FrameDecoder, HEADER_LENGTH, MAX_MESSAGE_SIZE, FrameType, decodeRequest, decodeResponse, encodeFrame, encodeHeader,
  encodeRequest, encodeResponse,
} from './index.js';

// The real Connect request to the runc shim, byte for byte (docs/ttrpc.md "What the tests prove").
const CONNECT_HEX =
  '0000004f00000001' + '0100' + '0a17636f6e7461696e6572642e7461736b2e76322e5461736b' + '1207436f6e6e656374' +
  '1a040a026331' + '2a250a1a636f6e7461696e6572642d6e616d6573706163652d7474727063' + '120764656661756c74';

describe('frame and envelope encoding', () => {
  it('matches the bytes containerd sends for Connect', () => {
    const body = encodeRequest({
      service: 'containerd.task.v2.Task',
      method: 'Connect',
      payload: Buffer.from('0a026331', 'hex'),
      timeoutNano: 0,
      metadata: [{ key: 'containerd-namespace-ttrpc', value: 'default' }],
    });
    expect(encodeFrame(1, FrameType.REQUEST, body).toString('hex')).toBe(CONNECT_HEX);
    const back = decodeRequest(Buffer.from(CONNECT_HEX, 'hex').subarray(HEADER_LENGTH));
    expect(back.service).toBe('containerd.task.v2.Task');
    expect(back.metadata).toEqual([{ key: 'containerd-namespace-ttrpc', value: 'default' }]);
  });

  it('decodes the observed error reply and encodes an empty reply to zero bytes', () => {
    const reply = Buffer.from('0a240805122063' + Buffer.from('ontainer not created: not found').toString('hex'), 'hex');
    expect(decodeResponse(reply).status).toEqual({ code: 5, message: 'container not created: not found' });
    expect(encodeResponse({ payload: new Uint8Array(0) })).toHaveLength(0);
    expect(encodeFrame(0x13, FrameType.RESPONSE, new Uint8Array(0)).toString('hex')).toBe('00000000000000130200');
  });

  it('carries a large timeout_nano exactly', () => {
    const body = encodeRequest({ service: 's', method: 'm', payload: new Uint8Array(0), timeoutNano: 5_000_000_000, metadata: [] });
    expect(decodeRequest(body).timeoutNano).toBe(5_000_000_000);
  });

  it('refuses to send a payload over 4 MiB', () => {
    let err: unknown;
    try {
      encodeFrame(1, FrameType.REQUEST, new Uint8Array(MAX_MESSAGE_SIZE + 1));
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'resource-exhausted')).toBe(true);
    expect((err as Error).message).toBe('message length 4194305 exceed maximum message size of 4194304');
  });
});

describe('FrameDecoder', () => {
  const frames = [
    encodeFrame(1, FrameType.REQUEST, Buffer.from('first')),
    encodeFrame(3, FrameType.RESPONSE, new Uint8Array(0)),
    encodeFrame(5, FrameType.REQUEST, Buffer.alloc(70_000, 7)),
  ];
  const all = Buffer.concat(frames);

  it('reassembles frames split at every byte', () => {
    const d = new FrameDecoder();
    const out = [];
    for (let i = 0; i < all.length; i++) out.push(...d.push(all.subarray(i, i + 1)));
    expect(out.map((f) => f.streamId)).toEqual([1, 3, 5]);
    expect(out[0]).toMatchObject({ kind: 'frame', type: 1, payload: Buffer.from('first') });
    expect(out[2]!.kind === 'frame' && out[2]!.payload.length).toBe(70_000);
    expect(d.buffered).toBe(0);
  });

  it('splits several frames delivered in one chunk', () => {
    const out = new FrameDecoder().push(all);
    expect(out.map((f) => [f.streamId, f.type])).toEqual([[1, 1], [3, 2], [5, 1]]);
  });

  it('skips an oversized payload without buffering it and keeps decoding', () => {
    const d = new FrameDecoder(16);
    const big = Buffer.concat([encodeHeader({ length: 100, streamId: 7, type: 1, flags: 0 }), Buffer.alloc(100, 1)]);
    const next = encodeFrame(9, FrameType.REQUEST, Buffer.from('ok'));
    const out = [...d.push(big.subarray(0, 50)), ...d.push(Buffer.concat([big.subarray(50), next]))];
    expect(d.buffered).toBe(0);
    expect(out).toEqual([
      { kind: 'oversized', streamId: 7, type: 1, flags: 0, length: 100 },
      { kind: 'frame', streamId: 9, type: 1, flags: 0, payload: Buffer.from('ok') },
    ]);
  });
});
