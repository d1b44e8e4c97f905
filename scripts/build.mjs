// Build: type-checked compile of every layer into dist/, the generated protobuf modules copied
// beside it, and the daemon and the shim each bundled into one file (a daemon restart and every
// shim start pay for every module file they load).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});

// Generated protobuf code is plain JS (with .d.ts beside it): tsc does not emit it, so copy it.
const gen = path.join(root, 'proto/gen');
if (existsSync(gen)) cpSync(gen, path.join(dist, 'proto/gen'), { recursive: true });

// Entry points with a shebang are made executable.
for (const bin of ['cli/berth.js', 'cli/berthctl.js']) {
  const p = path.join(dist, bin);
  if (existsSync(p)) chmodSync(p, 0o755);
}

// The shim: one CommonJS file beside the launcher's default path (shim/bundle.ts says why CJS).
if (existsSync(path.join(root, 'shim/main.ts'))) {
  const { bundleShim, SHIM_BUNDLE_NAME } = await import(path.join(dist, 'shim/bundle.js'));
  await bundleShim(root, path.join(dist, 'shim', SHIM_BUNDLE_NAME));
}
// The daemon: one CommonJS file and its loader, what the install links as `berth` (cli/bundle.ts says why).
{
  const { bundleDaemon, DAEMON_BUNDLE_NAME } = await import(path.join(dist, 'cli/bundle.js'));
  await bundleDaemon(root, path.join(dist, 'cli', DAEMON_BUNDLE_NAME));
}
console.log('build: ok');
