// cri/listener: the CRI unix socket in front of the grpc-js server, accepting every :authority a
// real gRPC client sends (docs/clients.md).
export { listenCri, type CriListener } from './listen.js';
