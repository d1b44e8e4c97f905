// GetContainerEvents: a server stream fed by the ContainerEventHub until the client cancels.
// A client that stops reading (write buffer full past a bound) is cut off.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../common/index.js';
import type { ContainerEventHub } from './events/index.js';

const MAX_PENDING = 1024;

export function containerEventsStream(hub: ContainerEventHub, log: Logger) {
  return (call: grpc.ServerWritableStream<unknown, unknown>): void => {
    let pending = 0;
    const unsubscribe = hub.subscribe((e) => {
      if (pending > MAX_PENDING) {
        log.warn('GetContainerEvents client is not reading; closing its stream');
        unsubscribe();
        call.end();
        return;
      }
      pending++;
      call.write(e, () => { pending--; });
    });
    const stop = () => unsubscribe();
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
    log.debug('GetContainerEvents stream opened');
  };
}
