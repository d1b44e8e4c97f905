// Bundles berth entry points (daemon, shim) with esbuild into bench/results/tmp/build/, never
// into dist/ (other engineers build there). That dir is gitignored and outside the lint (eslint
// ignores bench/results/**). npm packages stay external and resolve from the project.
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../common/index.js';
import { SHIM_BUNDLE_NAME, bundleShim, writeShimWrapper } from '../shim/bundle.js';

/** The project root, found from this file whether it runs from source, dist/bench or the bench bundle. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new NotFoundError('cannot find the berth project root (package.json)');
    dir = up;
  }
  return dir;
}

export const buildDir = (): string => path.join(projectRoot(), 'bench', 'results', 'tmp', 'build');

/** Bundles `entry` (relative to the project root) to bench/results/tmp/build/<name>.mjs; NotFound when the entry is missing. */
export async function bundle(entry: string, name: string): Promise<string> {
  const root = projectRoot();
  const src = path.join(root, entry);
  if (!existsSync(src)) throw new NotFoundError(`${entry} does not exist yet`);
  mkdirSync(buildDir(), { recursive: true });
  const outfile = path.join(buildDir(), `${name}.mjs`);
  await build({
    entryPoints: [src],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile,
    packages: 'external',
    banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/**
 * The berth shim built as the install builds it (shim/bundle.ts: one CommonJS file) behind a
 * `containerd-shim-berth-v2` wrapper in <build>/bin that runs the project's launcher script on it
 * (put binDir on PATH, or run the launcher as containerd would).
 */
export async function bundleBerthShim(): Promise<{ binDir: string; launcher: string; script: string }> {
  const root = projectRoot();
  const script = await bundleShim(root, path.join(buildDir(), SHIM_BUNDLE_NAME));
  const binDir = path.join(buildDir(), 'bin');
  const launcher = writeShimWrapper(root, binDir, script);
  return { binDir, launcher, script };
}
