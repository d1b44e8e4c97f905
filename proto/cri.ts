// proto layer, CRI side: runtime.v1 messages, method tables, grpc-js service definitions and a
// typed client. A separate door from proto/index.ts so the shim never loads the CRI module.
export { runtime } from './gen/cri.js';
export {
  RUNTIME_SERVICE, IMAGE_SERVICE, runtimeServiceMethods, imageServiceMethods,
  runtimeServiceDefinition, imageServiceDefinition, serviceDefinition, LIST_STREAMS, type ListStream,
  type RuntimeServiceMethods, type ImageServiceMethods, type CriMethod, type CriMethodTable,
  type CriMessageClass, type CriRequest, type CriResponse, type CriResponseInput,
  type UnaryMethodNames, type StreamMethodNames,
} from './cri-services.js';
export { encodeListChunks, STREAM_CHUNK_BYTES } from './list-chunks.js';
export {
  createCriClients, criTarget, errorFromGrpc, KUBELET_MAX_MESSAGE_BYTES,
  type CriClient, type CriClients, type CriCallOptions, type CriClientOptions,
} from './cri-client.js';
