// proto layer, CRI side: runtime.v1 messages, method tables, grpc-js service definitions and a
// typed client. A separate door from proto/index.ts so the shim never loads the CRI module.
export { runtime } from './gen/cri.js';
export {
  RUNTIME_SERVICE, IMAGE_SERVICE, runtimeServiceMethods, imageServiceMethods,
  runtimeServiceDefinition, imageServiceDefinition, serviceDefinition,
  type RuntimeServiceMethods, type ImageServiceMethods, type CriMethod, type CriMethodTable,
  type CriMessageClass, type CriRequest, type CriResponse, type CriResponseInput,
  type UnaryMethodNames, type StreamMethodNames,
} from './cri-services.js';
export {
  createCriClients, criTarget, errorFromGrpc,
  type CriClient, type CriClients, type CriCallOptions, type CriClientOptions,
} from './cri-client.js';
