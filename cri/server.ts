// The CRI gRPC server on a unix socket (mode 0660): RuntimeService + ImageService.
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../common/index.js';
import type { ImageService } from '../image/index.js';
import { IMAGE_SERVICE, RUNTIME_SERVICE, imageServiceDefinition, imageServiceMethods, runtimeServiceDefinition, runtimeServiceMethods } from '../proto/cri-wire.js';
import { containerEventsStream, type ContainerEventHub } from './events/index.js';
import type { RuntimeDeps } from './runtime/index.js';
import { GrpcServer } from './grpc/index.js';
import { pinnedRefs } from './image-methods.js';
import type { CallObserver } from './metrics/index.js';
import { imageHandlers, instrument, runtimeHandlers } from './service.js';

export interface CriServer {
  readonly address: string;
  /** Stops accepting calls; in-flight calls get `graceMs` to finish, then are cancelled. */
  close(graceMs?: number): Promise<void>;
}

/** What the CRI methods run on; the event feed is separate so GetContainerEvents can open early. */
export interface CriBackends {
  readonly deps: RuntimeDeps;
  readonly images: ImageService;
}

/**
 * Serves the CRI on `address`. `backends` may still be pending (the daemon binds the socket while
 * it recovers): every unary call then waits for it, so no answer predates recovery, and fails
 * with its error if it rejects. The caller must own the root (the store's lock) before calling.
 * `observe` (the daemon's metrics, when on) sees every unary call and its outcome.
 */
export async function serveCri(
  address: string, backends: CriBackends | Promise<CriBackends>, events: ContainerEventHub, log: Logger, observe?: CallObserver,
): Promise<CriServer> {
  // berth's own HTTP/2 framing (docs/grpc.md): it serves every :authority a Go client sends.
  const server = new GrpcServer({ log, maxReceiveBytes: 16 * 1024 * 1024, maxSendBytes: 32 * 1024 * 1024 });
  const callLog = log.child({ component: 'cri' });
  const ready = Promise.resolve(backends);
  const runtime = ready.then((b) => runtimeHandlers(b.deps));
  const image = ready.then((b) => imageHandlers(b.images, pinnedRefs(b.deps.config)));
  // A failed start is reported by the daemon; calls waiting on these get it as their status.
  runtime.catch(() => undefined);
  image.catch(() => undefined);
  server.addService(runtimeServiceDefinition, instrument(RUNTIME_SERVICE, runtimeServiceMethods, runtime, callLog, {
    GetContainerEvents: containerEventsStream(events, callLog),
  }, observe));
  server.addService(imageServiceDefinition, instrument(IMAGE_SERVICE, imageServiceMethods, image, callLog, {}, observe));
  await mkdir(path.dirname(address), { recursive: true, mode: 0o711 });
  // The store's lock proves no other daemon owns this root, so a socket left here is stale.
  await rm(address, { force: true });
  await server.listen(address);
  await chmod(address, 0o660);
  log.info({ address }, 'CRI server listening');
  return {
    address,
    async close(graceMs = 2_000) {
      await server.close(graceMs);
      await rm(address, { force: true });
    },
  };
}
