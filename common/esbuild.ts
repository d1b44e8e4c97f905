// esbuild settings shared by the two one-file CommonJS bundles the build makes (the shim:
// shim/bundle.ts; the daemon: cli/bundle.ts). Build-time only: nothing at run time imports this.
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * CommonJS for Node 20. The sources are ES modules that find external packages with
 * createRequire(import.meta.url): in CJS, import.meta.url becomes a variable the banner sets.
 */
export const CJS_NODE_BUNDLE = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  define: { 'import.meta.url': '__berthImportMetaUrl' },
  logLevel: 'warning',
} as const satisfies BuildOptions;

/** The banner line that defines `__berthImportMetaUrl` (CJS_NODE_BUNDLE's import.meta.url). */
export const IMPORT_META_URL_BANNER = "var __berthImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

/**
 * Whitespace and syntax only: identifiers keep their names for stack traces in the logs. Less
 * source to read, parse and keep in the heap.
 */
export const LIGHT_MINIFY = { minifyWhitespace: true, minifySyntax: true } as const satisfies BuildOptions;

/**
 * protobufjs requires `long` when it is installed; berth decodes 64-bit fields as numbers
 * (scripts/gen-proto.mjs), so a bundle gets none and protobufjs takes its no-Long path.
 */
export const noLongPlugin: Plugin = {
  name: 'no-long',
  setup(b) {
    b.onResolve({ filter: /^long$/ }, () => ({ path: 'long', namespace: 'berth-no-long' }));
    b.onLoad({ filter: /.*/, namespace: 'berth-no-long' }, () => ({ contents: 'module.exports = null;', loader: 'js' }));
  },
};
