// The daemon's ttrpc Events service on TTRPC_ADDRESS: shims Forward their task events here
// (containerd-shim-runc-v2 1.6.20 sends every event this way). /tasks/exit is the exit fast path;
// every event is also handed to listeners.
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, isValidIdentifier, silentLogger, type Logger } from '../common/index.js';
import {
  EVENTS_SERVICE, TtrpcServer, decodeEnvelopeEvent, eventsServiceMethods, fromTimestamp, type TaskEvent,
} from '../proto/index.js';

export interface ForwardedEvent {
  namespace: string;
  timestamp: Date;
  event: TaskEvent;
}

export type EventListener = (e: ForwardedEvent) => Promise<void> | void;

/** Serves Events/Forward on `socketPath`; `onEvent` runs before the reply is sent. */
export async function serveEvents(socketPath: string, onEvent: EventListener, log: Logger = silentLogger): Promise<TtrpcServer> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o711 });
  const server = new TtrpcServer({ logger: log });
  server.register(EVENTS_SERVICE, eventsServiceMethods, {
    Forward: async (req) => {
      const env = req.envelope;
      if (!env) throw new InvalidArgumentError('forward: no envelope');
      const namespace = env.namespace ?? '';
      if (!isValidIdentifier(namespace)) throw new InvalidArgumentError(`forward: namespace ${JSON.stringify(namespace)} is not valid`);
      const timestamp = fromTimestamp(env.timestamp);
      if (!timestamp) throw new InvalidArgumentError('forward: envelope timestamp is zero');
      const event = decodeEnvelopeEvent(env);
      await onEvent({ namespace, timestamp, event });
      return {};
    },
  });
  await server.listen(socketPath);
  // Only the shims berth starts (as root) send here: root-only, so no other user can forge an
  // event (docs/security.md).
  await chmod(socketPath, 0o600);
  return server;
}
