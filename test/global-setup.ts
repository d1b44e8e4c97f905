// Runs once before the suites: bundles berth's shim into a fixed place under
// node_modules/.cache and writes a `containerd-shim-berth-v2` wrapper beside it, so every
// runtime-parameterised suite (task manager, CRI) also runs against berth's own shim.
// An explicit BERTH_SHIM_PATH wins.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { bundleTestShim, makeShimWrapper, projectRoot } from './helpers/bundle.js';

export default async function setup(): Promise<(() => void) | void> {
  if (process.env.BERTH_SHIM_PATH) return;
  const dir = path.join(projectRoot, 'node_modules/.cache/berth-test', `shim-bin-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  process.env.BERTH_SHIM_PATH = await makeShimWrapper(dir);
  const entry = await bundleTestShim();
  return () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(entry, { force: true });
  };
}
