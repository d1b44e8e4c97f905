// `npm run chaos -- --cycles N [--report FILE]`: the long chaos run (docs/crash-safety.md). Runs
// test/chaos/chaos.test.ts with BERTH_CHAOS_CYCLES=N (every fault point once, then random kills)
// and writes the figures to BERTH_CHAOS_REPORT (default node_modules/.cache/berth-test/chaos-report.json).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { cycles: { type: 'string', default: '200' }, report: { type: 'string' } },
});
const cycles = Number(values.cycles);
if (!Number.isInteger(cycles) || cycles < 1) {
  console.error(`--cycles must be a positive integer, not ${JSON.stringify(values.cycles)}`);
  process.exit(2);
}
const report = path.resolve(values.report ?? path.join(root, 'node_modules/.cache/berth-test/chaos-report.json'));
mkdirSync(path.dirname(report), { recursive: true });
const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/chaos/chaos.test.ts'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, BERTH_CHAOS_CYCLES: String(cycles), BERTH_CHAOS_REPORT: report },
});
console.log(`chaos report: ${report}`);
process.exit(r.status ?? 1);
