// The codec shape ttrpc needs from a message class, and method descriptors built from it.
// protobufjs static classes satisfy MessageType: encode takes a plain object, decode gives one.

/** Encodes/decodes one protobuf message type (e.g. `containerd.task.v2.StateRequest`). */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(reader: Uint8Array): T;
}

/** One unary method: how to encode/decode its request and its reply. */
export interface MethodDescriptor<Req, Res> {
  requestType: MessageType<Req>;
  responseType: MessageType<Res>;
}

/** The plain-object type a generated class encodes (its `$Properties` interface). */
export type PropsOf<C> = C extends { encode(message: infer P, ...rest: any[]): unknown } ? P : never;

/** A descriptor typed from two generated classes: requests and replies as plain objects. */
export function method<Q extends MessageType<any>, R extends MessageType<any>>(
  requestType: Q,
  responseType: R,
): MethodDescriptor<PropsOf<Q>, PropsOf<R>> {
  return { requestType, responseType };
}
