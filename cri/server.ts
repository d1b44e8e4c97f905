// The CRI gRPC server on a unix socket (mode 0660): RuntimeService + ImageService.
import * as grpc from '@grpc/grpc-js';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { UnavailableError, type Logger } from '../common/index.js';
import type { ImageService } from '../image/index.js';
import { IMAGE_SERVICE, RUNTIME_SERVICE, imageServiceDefinition, imageServiceMethods, runtimeServiceDefinition, runtimeServiceMethods } from '../proto/cri.js';
import { containerEventsStream } from './container-events-stream.js';
import type { RuntimeDeps } from './runtime/index.js';
import { imageHandlers, instrument, runtimeHandlers } from './service.js';

export interface CriServer {
  readonly address: string;
  /** Stops accepting calls; in-flight calls get `graceMs` to finish, then are cancelled. */
  close(graceMs?: number): Promise<void>;
}

export async function serveCri(address: string, deps: RuntimeDeps, images: ImageService, log: Logger): Promise<CriServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 32 * 1024 * 1024 });
  const callLog = log.child({ component: 'cri' });
  server.addService(runtimeServiceDefinition, instrument(RUNTIME_SERVICE, runtimeServiceMethods, runtimeHandlers(deps), callLog, {
    GetContainerEvents: containerEventsStream(deps.events, callLog),
  }));
  server.addService(imageServiceDefinition, instrument(IMAGE_SERVICE, imageServiceMethods, imageHandlers(images), callLog));
  await mkdir(path.dirname(address), { recursive: true, mode: 0o711 });
  // The store's lock proves no other daemon owns this root, so a socket left here is stale.
  await rm(address, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${address}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) reject(new UnavailableError(`cannot listen on ${address}: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
  await chmod(address, 0o660);
  log.info({ address }, 'CRI server listening');
  return {
    address,
    async close(graceMs = 2_000) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
      await rm(address, { force: true });
    },
  };
}
