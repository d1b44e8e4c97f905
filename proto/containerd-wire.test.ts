// Wire identity of the generated containerd/ttrpc/google messages, checked against bytes the
// real containerd-shim-runc-v2 1.6.20 sent or accepted (docs/ttrpc.md, docs/proto.md "Tests").
import { describe, it, expect } from 'vitest';
import { containerd, google, ttrpc, GO_ZERO_TIME_SECONDS, toTimestamp, fromTimestamp } from './index.js';
import { io } from './metrics.js';

const v2 = containerd.task.v2;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

// Go's zero time as a Timestamp field body: 08 <-62135596800 as a 10-byte varint>.
const ZERO_TS = '08 80 92 b8 c3 98 fe ff ff ff 01';

describe('ttrpc envelope (Connect example, docs/ttrpc.md)', () => {
  it('encodes the Connect request exactly as the Go client did', () => {
    const req = ttrpc.Request.encode({
      service: 'containerd.task.v2.Task',
      method: 'Connect',
      payload: v2.ConnectRequest.encode({ id: 'c1' }).finish(),
      timeoutNano: 0,
      metadata: [{ key: 'containerd-namespace-ttrpc', value: 'default' }],
    }).finish();
    const expected =
      '0a17' + ascii('containerd.task.v2.Task') + '1207' + ascii('Connect') + '1a040a02' + ascii('c1') +
      '2a250a1a' + ascii('containerd-namespace-ttrpc') + '1207' + ascii('default');
    expect(req.length).toBe(0x4f);
    expect(hex(req)).toBe(expected);
  });

  it('decodes the success reply and its ConnectResponse', () => {
    const res = ttrpc.Response.decode(bytes('12 04 08 e7 aa 01'));
    expect(res.status).toBeNull();
    const connect = v2.ConnectResponse.decode(res.payload);
    expect(connect.shimPid).toBe(21863);
    expect(connect.taskPid).toBe(0);
  });

  it('decodes the NOT_FOUND error reply into google.rpc.Status', () => {
    const msg = 'container not created: not found';
    const res = ttrpc.Response.decode(bytes('0a 24 08 05 12 20' + ascii(msg)));
    expect(res.status?.code).toBe(5);
    expect(res.status?.message).toBe(msg);
    expect(res.payload.length).toBe(0);
    expect(hex(ttrpc.Response.encode({ status: { code: 5, message: msg } }).finish())).toBe('0a2408051220' + ascii(msg));
  });

  it('encodes google.protobuf.Empty (a Shutdown reply) as zero bytes', () => {
    expect(google.protobuf.Empty.encode({}).finish().length).toBe(0);
    expect(ttrpc.Response.encode({ payload: google.protobuf.Empty.encode({}).finish() }).finish().length).toBe(0);
  });
});

describe('task messages (task-api.md)', () => {
  it('decodes and re-encodes the observed Wait reply', () => {
    const wire = '08 03 12 0c 08 e8 9a 99 d8 06 10 9c ec da f1 02';
    const w = v2.WaitResponse.decode(bytes(wire));
    expect(w.exitStatus).toBe(3);
    expect(typeof w.exitedAt?.seconds).toBe('number');
    expect(w.exitedAt?.seconds).toBe(1795575144);
    expect(hex(v2.WaitResponse.encode(w).finish())).toBe(wire.replace(/ /g, ''));
    expect(fromTimestamp(w.exitedAt)?.getTime()).toBe(1795575144_000 + Math.floor((w.exitedAt?.nanos ?? 0) / 1e6));
  });

  it('always sends the zero exited_at in a StateResponse, and round-trips the negative seconds', () => {
    const state = v2.StateResponse.encode({
      id: 'c1', pid: 21883, status: containerd.v1.types.Status.CREATED, exitedAt: toTimestamp(undefined),
    }).finish();
    expect(hex(state)).toBe('0a02' + ascii('c1') + '18fbaa01' + '2001' + '520b' + ZERO_TS.replace(/ /g, ''));
    const back = v2.StateResponse.decode(state);
    expect(back.exitedAt?.seconds).toBe(GO_ZERO_TIME_SECONDS);
    expect(back.exitedAt?.nanos).toBe(0);
    expect(back.status).toBe(1);
    expect(fromTimestamp(back.exitedAt)).toBeUndefined();
  });

  it('encodes a DeleteResponse (the delete action stdout) field by field', () => {
    const del = v2.DeleteResponse.encode({ pid: 21883, exitStatus: 137, exitedAt: toTimestamp(undefined) }).finish();
    expect(hex(del)).toBe('08fbaa01' + '108901' + '1a0b' + ZERO_TS.replace(/ /g, ''));
    const back = v2.DeleteResponse.decode(del);
    expect([back.pid, back.exitStatus, back.exitedAt?.seconds]).toEqual([21883, 137, GO_ZERO_TIME_SECONDS]);
  });

  it('omits zero scalars but sends a set empty sub-message (TaskCreate.io = 22 00)', () => {
    const ev = containerd.events.TaskCreate.encode({ containerId: 'c1', io: {}, pid: 0 }).finish();
    expect(hex(ev)).toBe('0a02' + ascii('c1') + '2200');
  });

  it('decodes uint64 cgroup stats beyond 32 bits as numbers', () => {
    const m = { cpu: { usage: { total: 2 ** 40 + 7, perCpu: [1, 2 ** 35] } }, memory: { usage: { usage: 5 * 2 ** 32 } } };
    const back = io.containerd.cgroups.v1.Metrics.decode(io.containerd.cgroups.v1.Metrics.encode(m).finish());
    expect(back.cpu?.usage?.total).toBe(2 ** 40 + 7);
    expect(back.cpu?.usage?.perCpu).toEqual([1, 2 ** 35]);
    expect(back.memory?.usage?.usage).toBe(5 * 2 ** 32);
  });
});
