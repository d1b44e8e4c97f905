// The ttrpc envelope messages (Request, Response, google.rpc.Status) as plain objects, and the
// one place they are turned into bytes and back.
import protobuf from 'protobufjs/minimal.js';

export interface KeyValue {
  key: string;
  value: string;
}

export interface RequestEnvelope {
  service: string;
  method: string;
  payload: Uint8Array;
  /** Remaining deadline in nanoseconds; 0 = none. */
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface ResponseEnvelope {
  status?: { code: number; message: string } | undefined;
  payload: Uint8Array;
}

const { Reader, Writer } = protobuf;

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  const l = v as { low: number; high: number };
  return l.high * 0x1_0000_0000 + (l.low >>> 0);
}

export function encodeRequest(r: RequestEnvelope): Uint8Array {
  const w = Writer.create();
  if (r.service) w.uint32(0x0a).string(r.service);
  if (r.method) w.uint32(0x12).string(r.method);
  if (r.payload.length) w.uint32(0x1a).bytes(r.payload);
  if (r.timeoutNano) w.uint32(0x20).int64(r.timeoutNano);
  for (const kv of r.metadata) {
    w.uint32(0x2a).fork();
    if (kv.key) w.uint32(0x0a).string(kv.key);
    if (kv.value) w.uint32(0x12).string(kv.value);
    w.ldelim();
  }
  return w.finish();
}

function decodeKeyValue(r: protobuf.Reader, end: number): KeyValue {
  const kv: KeyValue = { key: '', value: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) kv.key = r.string();
    else if (tag === 0x12) kv.value = r.string();
    else r.skipType(tag & 7);
  }
  return kv;
}

export function decodeRequest(b: Uint8Array): RequestEnvelope {
  const r = Reader.create(b);
  const out: RequestEnvelope = { service: '', method: '', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a: out.service = r.string(); break;
      case 0x12: out.method = r.string(); break;
      case 0x1a: out.payload = r.bytes(); break;
      case 0x20: out.timeoutNano = toNumber(r.int64()); break;
      case 0x2a: { const len = r.uint32(); out.metadata.push(decodeKeyValue(r, r.pos + len)); break; }
      default: r.skipType(tag & 7);
    }
  }
  return out;
}

export function encodeResponse(resp: ResponseEnvelope): Uint8Array {
  const w = Writer.create();
  if (resp.status && (resp.status.code || resp.status.message)) {
    w.uint32(0x0a).fork();
    if (resp.status.code) w.uint32(0x08).int32(resp.status.code);
    if (resp.status.message) w.uint32(0x12).string(resp.status.message);
    w.ldelim();
  }
  if (resp.payload.length) w.uint32(0x12).bytes(resp.payload);
  return w.finish();
}

function decodeStatus(r: protobuf.Reader, end: number): { code: number; message: string } {
  const s = { code: 0, message: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) s.code = r.int32();
    else if (tag === 0x12) s.message = r.string();
    else r.skipType(tag & 7);
  }
  return s;
}

export function decodeResponse(b: Uint8Array): ResponseEnvelope {
  const r = Reader.create(b);
  const out: ResponseEnvelope = { payload: new Uint8Array(0) };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 0x0a) { const len = r.uint32(); out.status = decodeStatus(r, r.pos + len); }
    else if (tag === 0x12) out.payload = r.bytes();
    else r.skipType(tag & 7);
  }
  return out;
}
