// Imported FIRST by the bundled test daemon: classic-level (level's native binding) finds its
// prebuilt addon through `__dirname`, which an ESM bundle does not define. Point it at the
// installed package so the bundled daemon can open its level db.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
(globalThis as { __dirname?: string }).__dirname = path.dirname(require.resolve('classic-level/package.json'));
