// Runs once before the suites: bundles berth's shim into a fixed place under
// node_modules/.cache and writes a `containerd-shim-berth-v2` wrapper beside it, so every
// runtime-parameterised suite (task manager, CRI) also runs against berth's own shim.
// An explicit BERTH_SHIM_PATH wins.
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleEntry, projectRoot } from './helpers/bundle.js';

export default async function setup(): Promise<(() => void) | void> {
  if (process.env.BERTH_SHIM_PATH) return;
  const entry = await bundleEntry('shim/main.ts');
  const dir = path.join(projectRoot, 'node_modules/.cache/berth-test', `shim-bin-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // argv names the script: a symlink keeps `containerd-shim-berth-v2` in process listings.
  const script = path.join(dir, 'containerd-shim-berth-v2.mjs');
  symlinkSync(entry, script);
  const wrapper = path.join(dir, 'containerd-shim-berth-v2');
  writeFileSync(wrapper, `#!/bin/sh\nunset NODE_EXTRA_CA_CERTS\nexec ${process.execPath} --max-semi-space-size=1 ${script} "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.BERTH_SHIM_PATH = wrapper;
  return () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(entry, { force: true });
  };
}
