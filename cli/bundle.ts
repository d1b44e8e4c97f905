// How the berth daemon is built for the install (scripts/build.mjs → dist/cli/) and the bench
// (bench/runtimes.ts): cli/berth.ts bundled by esbuild into ONE CommonJS file with its npm
// packages inside (berth-daemon.cjs), and beside it the executable, berth.cjs: a small loader
// (cli/daemon-loader.ts) that runs the bundle through a V8 code cache (cli/code-cache.ts). A
// restart is on the daemon's critical path (pods are unmanaged until it serves again) and Node
// pays per module file (resolving, reading, the CJS lexer for every package an ES module
// imports) and for compiling it. Left external: the native addons (koffi; classic-level's LevelDB
// binding, while its JavaScript is bundled) and pino (required at run time, common/log.ts).
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CJS_NODE_BUNDLE, IMPORT_META_URL_BANNER, MINIFY, noLongPlugin } from '../common/esbuild.js';
import { DAEMON_MAIN_NAME } from './code-cache.js';

/** The unpack worker's bundle beside the daemon's (one of image/unpacker.ts UNPACK_WORKER_NAMES). */
export const UNPACK_WORKER_BUNDLE_NAME = 'berth-unpack-worker.cjs';

/** The executable's file name (`dist/cli/<name>`); the bundle is DAEMON_MAIN_NAME beside it. */
export const DAEMON_BUNDLE_NAME = 'berth.cjs';

/**
 * Bundles `<root>/cli/berth.ts` into DAEMON_MAIN_NAME beside `outfile` and the loader into
 * `outfile` (executable: the entry's `#!/usr/bin/env node` stays first); returns `outfile`.
 */
export async function bundleDaemon(root: string, outfile: string): Promise<string> {
  const { build } = await import('esbuild');
  const dir = path.dirname(outfile);
  const main = path.join(dir, DAEMON_MAIN_NAME);
  mkdirSync(dir, { recursive: true });
  await build({
    ...CJS_NODE_BUNDLE,
    entryPoints: [path.join(root, 'cli/daemon-loader.ts')],
    outfile,
    banner: { js: `#!/usr/bin/env node\n${IMPORT_META_URL_BANNER}` },
  });
  chmodSync(outfile, 0o755);
  rmSync(`${main}.v8cache`, { force: true }); // its key would not match the new bundle anyway
  await build({
    ...CJS_NODE_BUNDLE,
    ...MINIFY,
    entryPoints: [path.join(root, 'cli/berth.ts')],
    outfile: main,
    external: ['koffi', 'pino', 'node-gyp-build', 'classic-level/package.json'],
    plugins: [{
      // classic-level finds its prebuilt addon from its own directory (node-gyp-build(__dirname)):
      // inside the bundle, ask the installed package's directory instead, resolved at run time.
      name: 'leveldb-binding',
      setup(b) {
        b.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) =>
          /[\\/]classic-level[\\/]/.test(args.importer) ? { path: 'binding', namespace: 'berth-leveldb-binding' } : undefined);
        b.onLoad({ filter: /.*/, namespace: 'berth-leveldb-binding' }, () => ({
          contents: "module.exports = require('node-gyp-build')(require('node:path').dirname(require.resolve('classic-level/package.json')));",
          loader: 'js',
        }));
      },
    }, noLongPlugin],
    banner: { js: IMPORT_META_URL_BANNER },
  });
  // The layer unpack worker (image/unpacker.ts finds it beside the bundle): its own small file,
  // so a worker thread does not load the whole daemon.
  await build({
    ...CJS_NODE_BUNDLE,
    ...MINIFY,
    entryPoints: [path.join(root, 'image/unpack-worker.ts')],
    outfile: path.join(dir, UNPACK_WORKER_BUNDLE_NAME),
    external: ['koffi'],
    banner: { js: IMPORT_META_URL_BANNER },
  });
  return outfile;
}
