// proto layer, CRI side, what the daemon serves with: runtime.v1 messages, method tables and
// service definitions, without the grpc-js client (proto/cri.ts adds it), so the daemon never
// loads grpc-js (docs/grpc.md). A separate door from proto/index.ts: the shim never loads it.
export { runtime } from './gen/cri.js';
export {
  RUNTIME_SERVICE, IMAGE_SERVICE, runtimeServiceMethods, imageServiceMethods,
  runtimeServiceDefinition, imageServiceDefinition, serviceDefinition, LIST_STREAMS, type ListStream,
  type RuntimeServiceMethods, type ImageServiceMethods, type CriMethod, type CriMethodTable,
  type CriMessageClass, type CriRequest, type CriResponse, type CriResponseInput,
  type UnaryMethodNames, type StreamMethodNames,
} from './cri-services.js';
export { encodeListChunks, STREAM_CHUNK_BYTES } from './list-chunks.js';
