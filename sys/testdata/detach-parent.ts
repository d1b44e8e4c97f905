// Test fixture: binds a unix socket, hands it to a detached child (fd 3), prints the child's pid.
// argv: <socket path> <child script> <exit|stay>
import net from 'node:net';
import { spawnDetached } from '../index.js';

const [sock, childScript, mode] = process.argv.slice(2);
const server = net.createServer();
server.listen(sock as string, () => {
  spawnDetached({ command: process.execPath, args: [childScript as string], listener: server }).then(
    (pid) => {
      process.stdout.write(`${pid}\n`, () => {
        if (mode === 'exit') process.exit(0);
      });
    },
    (e: unknown) => {
      process.stderr.write(`${String(e)}\n`);
      process.exit(1);
    },
  );
});
