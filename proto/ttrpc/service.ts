// Method tables: for each method of a ttrpc service, how to encode and decode its request and
// reply. The proto layer generates them (taskServiceMethods, eventsServiceMethods); the typed
// client and the server registry are built from them.

/** What a generated protobufjs message class offers (static encode/decode). */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(reader: Uint8Array): T;
}

export interface MethodDescriptor<Req, Res> {
  requestType: MessageType<Req>;
  responseType: MessageType<Res>;
}

export type MethodTable = Record<string, MethodDescriptor<any, any>>;

export type RequestOf<D> = D extends MethodDescriptor<infer Req, any> ? Req : never;
export type ResponseOf<D> = D extends MethodDescriptor<any, infer Res> ? Res : never;
