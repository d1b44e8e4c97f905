// How containerd-shim-berth-v2 is built, in one place for the install (scripts/build.mjs → dist/
// shim), the tests (test/helpers/bundle.ts) and the bench (bench/build.ts): shim/main.ts bundled by
// esbuild into ONE CommonJS file (CJS, not ESM: an ES module evaluates every `import` of the whole
// bundle up front, builtins included, where esbuild's CJS output requires each module's imports
// only when that module is first used), koffi and pino left external (a native addon cannot be
// bundled; pino is required at run time, after the shim serves), and a launcher that runs the
// checked-in shim/containerd-shim-berth-v2 script on that bundle.
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CJS_NODE_BUNDLE, IMPORT_META_URL_BANNER, MINIFY, noLongPlugin } from '../common/esbuild.js';

/** The bundle's file name; process listings recognise shims by the `containerd-shim` prefix. */
export const SHIM_BUNDLE_NAME = 'containerd-shim-berth-v2.cjs';

/** Bundles `<root>/shim/main.ts` into `outfile` (CommonJS). */
export async function bundleShim(root: string, outfile: string): Promise<string> {
  const { build } = await import('esbuild');
  mkdirSync(path.dirname(outfile), { recursive: true });
  await build({
    ...CJS_NODE_BUNDLE,
    ...MINIFY,
    entryPoints: [path.join(root, 'shim/main.ts')],
    outfile,
    external: ['koffi', 'pino'],
    plugins: [noLongPlugin],
    banner: { js: IMPORT_META_URL_BANNER },
  });
  return outfile;
}

/**
 * Writes `<dir>/containerd-shim-berth-v2`, a wrapper that runs the project's launcher script
 * (`<root>/shim/containerd-shim-berth-v2`) on `bundle` with `node`; `bundle` is linked into `dir`
 * under SHIM_BUNDLE_NAME so the shim's argv names it. Returns the wrapper's path.
 */
export function writeShimWrapper(root: string, dir: string, bundle: string, node = process.execPath): string {
  mkdirSync(dir, { recursive: true });
  const script = path.join(dir, SHIM_BUNDLE_NAME);
  rmSync(script, { force: true });
  symlinkSync(bundle, script);
  const wrapper = path.join(dir, 'containerd-shim-berth-v2');
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  writeFileSync(wrapper, [
    '#!/bin/sh',
    `BERTH_SHIM_SCRIPT=${q(script)} BERTH_SHIM_NODE=${q(node)} exec ${q(path.join(root, 'shim/containerd-shim-berth-v2'))} "$@"`,
    '',
  ].join('\n'));
  chmodSync(wrapper, 0o755);
  return wrapper;
}
