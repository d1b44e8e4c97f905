// Child process for the inherited-listener test: serves an echo service on fd 3, the way a shim
// serves the socket `start` bound for it, and says "ready" on stdout.
import type { MessageType } from '../../message-type.js';
import { TtrpcServer } from '../index.js';

const json: MessageType<{ text: string }> = {
  encode: (m) => ({ finish: () => Buffer.from(JSON.stringify(m)) }),
  decode: (b) => JSON.parse(Buffer.from(b).toString('utf8')) as { text: string },
};
const server = new TtrpcServer();
server.register('berth.test.v1.Echo', { Echo: { requestType: json, responseType: json } }, {
  Echo: (req) => ({ text: `fd3 ${req.text} from ${process.pid}` }),
});
await server.listen({ fd: 3 });
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void server.close({ timeoutMs: 1_000 }).then(() => process.exit(0));
});
