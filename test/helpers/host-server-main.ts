// A stand-alone streaming server over host processes, for tests that must measure the server
// as its own process (memory under a 100 MB stream). Protocol on stdin/stdout, one JSON per line:
//   out: {"baseUrl": "..."}            once listening
//   in:  {"id": 1, "exec": {...CRI ExecRequest}}   out: {"id": 1, "url": "..."} or {"id": 1, "error": "..."}
import readline from 'node:readline';
import { toStatus } from '../../common/index.js';
import { StreamingServer, type CriExecRequest } from '../../cri/streaming/index.js';
import { HostProcessBackend } from './host-backend.js';

const backend = new HostProcessBackend();
const server = await StreamingServer.start({ backend });
process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl })}\n`);

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let id: unknown;
  try {
    const msg = JSON.parse(line) as { id: unknown; exec: CriExecRequest };
    id = msg.id;
    process.stdout.write(`${JSON.stringify({ id, url: server.getExecUrl(msg.exec).url })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id, error: toStatus(err).message })}\n`);
  }
});
rl.on('close', () => {
  void server.close().finally(() => {
    backend.close();
    process.exit(0);
  });
});
