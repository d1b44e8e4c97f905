// proto layer, CRI side: everything of proto/cri-wire.ts plus the typed grpc-js client (berthctl,
// tests, bench). A separate door from proto/index.ts so the shim never loads the CRI module.
export * from './cri-wire.js';
export {
  createCriClients, criTarget, errorFromGrpc, KUBELET_MAX_MESSAGE_BYTES,
  type CriClient, type CriClients, type CriCallOptions, type CriClientOptions,
} from './cri-client.js';
