// proto/ttrpc: the ttrpc v1.1.1 wire protocol (framing, client, server) as containerd 1.6 speaks
// it over unix sockets. Re-exported by proto/index.ts.
export {
  FrameDecoder, HEADER_LENGTH, MAX_MESSAGE_SIZE, FrameType, encodeFrame, encodeHeader,
  type DecodedFrame, type FrameHeader,
} from './frame.js';
export { socketPathOf } from './address.js';
export {
  decodeRequest, decodeResponse, encodeRequest, encodeResponse,
  type KeyValue, type RequestEnvelope, type ResponseEnvelope,
} from './envelope.js';
export { ResourceExhaustedError, closedError, errorFromStatus } from './errors.js';
export { NAMESPACE_METADATA_KEY, TtrpcClient, type CallOptions, type ClientOptions } from './client.js';
export {
  TtrpcServer, answers as socketAnswers, type Handler, type HandlerContext, type ListenTarget, type ServerOptions, type ServiceHandlers,
} from './server.js';
export type { MethodTable, RequestOf, ResponseOf } from './service.js';
export { createServiceClient, type ServiceClient } from './service-client.js';
