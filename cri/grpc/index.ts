// cri/grpc: berth's gRPC server for the CRI socket, HTTP/2 framed in-process (docs/grpc.md).
export { GrpcServer, type GrpcServerOptions, type ServiceImpl } from './server.js';
export { ServerStream, STREAM_HIGH_WATER, type GrpcStatus, type MethodDef, type Reply, type StreamHandler, type UnaryCall, type UnaryHandler } from './calls.js';
