// Imported first by the berth entry points. When berth runs as one esbuild bundle, classic-level
// (level's native binding) looks for its prebuilt addon through `__dirname`, which an ESM bundle
// does not define: point it at the installed package. Unbundled, this changes nothing.
import { createRequire } from 'node:module';
import path from 'node:path';

const g = globalThis as { __dirname?: string };
if (g.__dirname === undefined) {
  try {
    g.__dirname = path.dirname(createRequire(import.meta.url).resolve('classic-level/package.json'));
  } catch {
    // not resolvable from here: the unbundled build does not need it
  }
}
