// Method tables: for each method of a ttrpc service, how to encode and decode its request and
// reply. The proto layer generates them (taskServiceMethods, eventsServiceMethods) with the
// descriptor shape from proto/message-type.ts; the typed client and the server registry are
// built from them.
import type { MethodDescriptor } from '../message-type.js';

export type MethodTable = Record<string, MethodDescriptor<any, any>>;

export type RequestOf<D> = D extends MethodDescriptor<infer Req, any> ? Req : never;
export type ResponseOf<D> = D extends MethodDescriptor<any, infer Res> ? Res : never;
