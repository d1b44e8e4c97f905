// The CRI socket: a unix-socket net.Server whose connections pass the authority gate
// (gate.ts) and are then injected into the grpc-js server (docs/clients.md).
import * as grpc from '@grpc/grpc-js';
import { createServer, type Socket } from 'node:net';
import { UnavailableError, type Logger } from '../../common/index.js';
import { gateConnection, type GateStats } from './gate.js';

export interface CriListener {
  /** How many connections went straight to the server and how many through a rewriter. */
  readonly stats: Readonly<GateStats>;
  /** Stops accepting new connections and drops those still in the gate. */
  stopAccepting(): void;
  /** Ends every connection still open (call after the gRPC server's shutdown) and the listener. */
  close(): Promise<void>;
}

/** Listens on the unix socket `path` (which must not exist) and serves its connections with `server`. */
export async function listenCri(path: string, server: grpc.Server, log: Logger): Promise<CriListener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const stats: GateStats = { direct: 0, rewritten: 0 };
  const sniffing = new Set<Socket>();
  const open = new Set<Socket>();
  const net = createServer({ pauseOnConnect: false }, (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    gateConnection(socket, (conn) => injector.injectConnection(conn), log, stats, sniffing);
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', (err) => reject(new UnavailableError(`cannot listen on ${path}: ${err.message}`, { cause: err })));
    net.listen(path, () => resolve());
  });
  net.on('error', (err) => log.error({ err }, 'CRI socket error'));
  const closed = new Promise<void>((resolve) => net.once('close', () => resolve()));
  const stopAccepting = () => {
    if (net.listening) net.close();
    for (const s of sniffing) s.destroy();
    sniffing.clear();
  };
  return {
    stats,
    stopAccepting,
    async close() {
      stopAccepting();
      injector.destroy();
      for (const s of open) s.destroy();
      await closed;
    },
  };
}
