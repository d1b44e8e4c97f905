// The `berth` executable as installed (dist/cli/berth.cjs, cli/bundle.ts): runs the daemon bundle
// beside it through a V8 code cache (cli/code-cache.ts). Only node builtins: it is read and
// compiled before any cache can help.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_MAIN_NAME, runWithCodeCache } from './code-cache.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
runWithCodeCache(path.join(dir, DAEMON_MAIN_NAME), { useCache: process.env.BERTH_NO_CODE_CACHE !== '1' });
