// Responses that repeat call after call (ListContainers of 100 unchanged containers, one
// ContainerStatus polled every second by kubelet) spend most of their serialization re-encoding
// the same messages. A response field listed here is encoded per message object and the bytes are
// kept beside the object (a WeakMap: they go when the object goes). Only frozen objects are
// cached (cri/runtime/convert.ts memoizes each record's frozen messages; a record is replaced,
// never changed, on update), so cached bytes can never be stale. Everything else in the response
// is encoded as usual, after the cached fields: one valid protobuf message either way.

/** A generated message class's static encoder that can append to a writer. */
export interface Encoder {
  encode(message: any, writer?: Writer): Writer;
}
interface Writer {
  uint32(value: number): Writer;
  bytes(value: Uint8Array): Writer;
  finish(): Uint8Array;
}

/** A length-delimited (message) field of a response whose values are cached. */
export interface CachedField {
  /** The property name in the plain object (camelCase, as protobufjs has it). */
  name: string;
  /** Its field number in the .proto. */
  field: number;
  type: Encoder;
  repeated?: boolean;
}

const bytesOf = new WeakMap<object, Uint8Array>();

/** The encoding of `message`, cached when it is frozen. */
export function encodedMessage(type: Encoder, message: object): Uint8Array {
  const hit = bytesOf.get(message);
  if (hit) return hit;
  const bytes = type.encode(message).finish();
  if (!Object.isFrozen(message)) return bytes;
  const kept = ownCopy(bytes);
  bytesOf.set(message, kept);
  return kept;
}

/**
 * Bytes to keep beside a record: in an ArrayBuffer of their own when they are a view into a
 * larger one (protobufjs finishes small messages into Buffer's shared pool, and one kept view
 * would hold the whole pool slab for the record's life: docs/bench.md "Daemon memory").
 */
function ownCopy(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.byteLength); // a Buffer still, as finish() gives
  own.set(bytes);
  return own;
}

/**
 * Encodes `value` of message type `type`, with `fields` from the cache. A reply that is only one
 * repeated cached field holding a frozen array (ListContainers, ListPodSandbox: cri/runtime/lists.ts
 * keeps each answer as one frozen array until the records change) is cached whole, by the array.
 */
export function encodeWithCache(type: Encoder, value: Record<string, unknown>, fields: readonly CachedField[]): Uint8Array {
  const only = fields.length === 1 && fields[0]!.repeated ? fields[0]! : undefined;
  const list = only ? value[only.name] : undefined;
  if (only && Array.isArray(list) && Object.isFrozen(list) && hasOnly(value, only.name)) {
    const hit = bytesOf.get(list);
    if (hit) return hit;
    const bytes = ownCopy(encodeFields(type, value, fields));
    bytesOf.set(list, bytes);
    return bytes;
  }
  return encodeFields(type, value, fields);
}

/** No set field in `value` besides `name`. */
function hasOnly(value: Record<string, unknown>, name: string): boolean {
  for (const k in value) if (k !== name && value[k] !== null && value[k] !== undefined) return false;
  return true;
}

function encodeFields(type: Encoder, value: Record<string, unknown>, fields: readonly CachedField[]): Uint8Array {
  let writer: Writer | undefined;
  const rest: Record<string, unknown> = { ...value };
  for (const f of fields) {
    const v = value[f.name];
    delete rest[f.name];
    if (v === null || v === undefined) continue;
    for (const m of f.repeated ? (v as object[]) : [v as object]) {
      // First a writer from the type (the generated code's own Writer class), then append.
      writer ??= writerOf(type);
      writer.uint32(((f.field << 3) | 2) >>> 0).bytes(encodedMessage(f.type, m));
    }
  }
  return (writer ? type.encode(rest, writer) : type.encode(rest)).finish();
}

function writerOf(type: Encoder): Writer {
  // encode({}) of any message writes nothing and returns a fresh writer to append to.
  return type.encode({});
}
