// configDump: a loaded config back to berth's TOML format, which loadConfig reads back unchanged.
import { stringify } from 'smol-toml';
import { BERTH_FILE, RUNC_OPTIONS } from './keys.js';
import { isRuncLikeRuntime } from './runtime.js';
import { dumpValue } from './schema.js';
import type { BerthConfig } from './types.js';

export function configDump(config: BerthConfig): string {
  const runtimes = Object.fromEntries(
    Object.entries(config.containerd.runtimes).map(([name, rt]) => [
      name,
      { ...rt, options: isRuncLikeRuntime(rt.runtimeType) ? dumpValue(RUNC_OPTIONS, rt.options) : rt.options },
    ]),
  );
  const data = dumpValue(BERTH_FILE, { ...config, containerd: { ...config.containerd, runtimes } });
  return `# berth configuration (berth format; see docs/config.md)\n${stringify(data)}\n`;
}
