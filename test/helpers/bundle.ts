// Integration tests that must run berth code as its own process (a shim, a daemon) bundle the
// TypeScript entry with esbuild into node_modules/.cache/berth-test/, so they never race on
// dist/ and node still resolves external native modules (koffi, level's classic-level) from the
// project's node_modules.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleShim, writeShimWrapper } from '../../shim/bundle.js';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cacheDir = path.join(projectRoot, 'node_modules/.cache/berth-test');
const built = new Map<string, Promise<string>>();

/** Bundles `entry` (a path relative to the project root) and returns the absolute .mjs path. */
export function bundleEntry(entry: string): Promise<string> {
  let p = built.get(entry);
  if (!p) {
    p = (async () => {
      mkdirSync(cacheDir, { recursive: true });
      const name = path.basename(entry).replace(/\.ts$/, '');
      const hash = createHash('sha256').update(`${entry}:${process.pid}:${Date.now()}`).digest('hex').slice(0, 12);
      const outfile = path.join(cacheDir, `${name}-${hash}.mjs`);
      await build({
        entryPoints: [path.join(projectRoot, entry)],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        outfile,
        external: ['koffi', 'level', 'classic-level'],
        banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
        logLevel: 'error',
      });
      return outfile;
    })();
    built.set(entry, p);
  }
  return p;
}

let shimBundle: Promise<string> | undefined;

/** The shim bundled exactly as the build does it (shim/bundle.ts), once per process: the .cjs path. */
export function bundleTestShim(): Promise<string> {
  shimBundle ??= (async () => {
    const hash = createHash('sha256').update(`shim:${process.pid}:${Date.now()}`).digest('hex').slice(0, 12);
    return bundleShim(projectRoot, path.join(cacheDir, `containerd-shim-berth-v2-${hash}.cjs`));
  })();
  return shimBundle;
}

/**
 * Writes `<dir>/containerd-shim-berth-v2`, a wrapper that runs the project's launcher script on
 * the test bundle of the shim, and returns its absolute path. Put `dir` on a daemon's PATH
 * (runtime name io.containerd.berth.v2) or use the path itself as the runtime.
 */
export async function makeShimWrapper(dir: string): Promise<string> {
  return writeShimWrapper(projectRoot, dir, await bundleTestShim());
}
