// Test fixture: serves "pong <pid>" on the listener inherited as fd 3.
import { listenOnInheritedFd } from '../index.js';

await listenOnInheritedFd(3, (s) => s.end(`pong ${process.pid}\n`));
