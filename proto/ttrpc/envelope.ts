// The ttrpc envelope messages (ttrpc.Request, ttrpc.Response with google.rpc.Status) as plain
// objects, and the one place they are turned into bytes and back. The codec is the proto layer's
// generated code, imported from the generated module itself: going through proto/index.ts would
// be an import cycle, since that door re-exports this folder.
import { ttrpc } from '../gen/containerd.js';

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

const EMPTY = new Uint8Array(0);

function int64ToNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    return l.high * 0x1_0000_0000 + (l.low >>> 0);
  }
  return 0;
}

export function encodeRequest(r: RequestEnvelope): Uint8Array {
  return ttrpc.Request.encode({
    service: r.service,
    method: r.method,
    payload: r.payload,
    timeoutNano: r.timeoutNano,
    metadata: r.metadata,
  }).finish();
}

export function decodeRequest(b: Uint8Array): RequestEnvelope {
  const m = ttrpc.Request.decode(b);
  return {
    service: m.service ?? '',
    method: m.method ?? '',
    payload: m.payload ?? EMPTY,
    timeoutNano: int64ToNumber(m.timeoutNano),
    metadata: (m.metadata ?? []).map((kv) => ({ key: kv.key ?? '', value: kv.value ?? '' })),
  };
}

/** Success sets no status at all: an empty reply then encodes to zero bytes, as Go does. */
export function encodeResponse(resp: ResponseEnvelope): Uint8Array {
  const status = resp.status && (resp.status.code || resp.status.message) ? resp.status : undefined;
  return ttrpc.Response.encode({ ...(status ? { status } : {}), payload: resp.payload }).finish();
}

export function decodeResponse(b: Uint8Array): ResponseEnvelope {
  const m = ttrpc.Response.decode(b);
  const status = m.status ? { code: m.status.code ?? 0, message: m.status.message ?? '' } : undefined;
  return { status, payload: m.payload ?? EMPTY };
}
