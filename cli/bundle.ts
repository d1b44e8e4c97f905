// How the berth daemon is built for the install (scripts/build.mjs → dist/cli/berth.cjs) and the
// bench (bench/runtimes.ts): cli/berth.ts bundled by esbuild into ONE CommonJS file with its npm
// packages inside. A restart is on the daemon's critical path (pods are unmanaged until it serves
// again) and Node pays per module file: resolving, reading, the CJS lexer for every package an
// ES module imports. One file is read and compiled once. Left external: the native addons
// (classic-level, koffi: they cannot be bundled) and pino (required at run time, common/log.ts).
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** The bundle's file name (`dist/cli/<name>`). */
export const DAEMON_BUNDLE_NAME = 'berth.cjs';

/** Bundles `<root>/cli/berth.ts` into `outfile` (CommonJS, executable: the entry's `#!/usr/bin/env node` stays first). */
export async function bundleDaemon(root: string, outfile: string): Promise<string> {
  const { build } = await import('esbuild');
  mkdirSync(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(root, 'cli/berth.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile,
    external: ['classic-level', 'koffi', 'pino'],
    // Whitespace and syntax only: identifiers keep their names for stack traces in the log.
    minifyWhitespace: true,
    minifySyntax: true,
    // protobufjs requires `long` when it is installed; berth decodes 64-bit fields as numbers
    // (scripts/gen-proto.mjs), so the bundle gets none and protobufjs takes its no-Long path.
    plugins: [{
      name: 'no-long',
      setup(b) {
        b.onResolve({ filter: /^long$/ }, () => ({ path: 'long', namespace: 'berth-no-long' }));
        b.onLoad({ filter: /.*/, namespace: 'berth-no-long' }, () => ({ contents: 'module.exports = null;', loader: 'js' }));
      },
    }],
    // The sources are ES modules that find external packages with createRequire(import.meta.url).
    define: { 'import.meta.url': '__berthImportMetaUrl' },
    banner: { js: "var __berthImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  return outfile;
}
