// Bundles berth entry points (daemon, shim) with esbuild into bench/results/tmp/build/, never
// into dist/ (other engineers build there). That dir is gitignored and outside the lint (eslint
// ignores bench/results/**). npm packages stay external and resolve from the project.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../common/index.js';

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

/** The berth shim, bundled, behind a `containerd-shim-berth-v2` launcher in <build>/bin (put it on PATH). */
export async function bundleBerthShim(): Promise<{ binDir: string; launcher: string; script: string }> {
  const script = await bundle('shim/main.ts', 'containerd-shim-berth-v2');
  const binDir = path.join(buildDir(), 'bin');
  mkdirSync(binDir, { recursive: true });
  const launcher = path.join(binDir, 'containerd-shim-berth-v2');
  // Same flags as shim/containerd-shim-berth-v2 (the installed launcher).
  writeFileSync(launcher, `#!/bin/sh\nunset NODE_EXTRA_CA_CERTS\nexec ${process.execPath} --max-semi-space-size=1 ${script} "$@"\n`);
  chmodSync(launcher, 0o755);
  return { binDir, launcher, script };
}
