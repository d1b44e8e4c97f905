// Bundles berth's daemon and shim with esbuild (as the install does: cli/bundle.ts,
// shim/bundle.ts) into bench/results/tmp/build/, never into dist/ (other engineers build there).
// That dir is gitignored and outside the lint (eslint ignores bench/results/**). External
// packages (native addons, pino) resolve from the project.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../common/index.js';
import { DAEMON_BUNDLE_NAME, bundleDaemon } from '../cli/bundle.js';
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

/**
 * The berth daemon built as the install builds it (cli/bundle.ts: one CommonJS file, npm packages
 * inside). BENCH_BERTH_SOURCE=<dir> builds it from another checkout of berth instead (say, the
 * commit before a change: `git archive <commit> | tar -x -C <dir>`, node_modules linked), so a
 * before/after pair runs the same bench against the same containerd.
 */
export function bundleBerthDaemon(source = process.env.BENCH_BERTH_SOURCE): Promise<string> {
  if (!source) return bundleDaemon(projectRoot(), path.join(buildDir(), DAEMON_BUNDLE_NAME));
  return bundleDaemon(path.resolve(source), path.join(buildDir(), `source-${path.basename(source)}`, DAEMON_BUNDLE_NAME));
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
