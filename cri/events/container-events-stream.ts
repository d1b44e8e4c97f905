// GetContainerEvents: a server stream fed by the ContainerEventHub until the client cancels.
// A stream the hub evicts (too many subscribers) or whose client stops reading (more than
// MAX_PENDING events not yet taken by the transport) is unsubscribed and ended with
// RESOURCE_EXHAUSTED, queued after the events already written: a client that reads again sees
// the status and can subscribe anew (kubelet relists meanwhile). docs/security.md.
import { Code, type Logger } from '../../common/index.js';
import type { ServerStream } from '../grpc/index.js';
import type { ContainerEventHub } from './container-events.js';

export const MAX_PENDING = 1024;

export function containerEventsStream(hub: ContainerEventHub, log: Logger) {
  return (call: ServerStream): void => {
    let pending = 0;
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      unsubscribe();
      log.warn({ reason }, 'GetContainerEvents stream ended by the server');
      // The status goes after the events already queued.
      call.fail({ code: Code.RESOURCE_EXHAUSTED, message: `GetContainerEvents: ${reason}; subscribe again` });
    };
    const unsubscribe = hub.subscribe((e) => {
      if (ended) return;
      if (pending >= MAX_PENDING) {
        end(`the client did not read ${pending} events`);
        return;
      }
      pending++;
      call.write(e, () => { pending--; });
    }, (reason) => end(reason));
    const stop = () => {
      ended = true;
      unsubscribe();
    };
    call.on('cancelled', stop);
    log.debug('GetContainerEvents stream opened');
  };
}
