// bench layer: public door and the `npm run bench` entry (dist/bench/index.js). Runs berth and
// containerd side by side and prints ratios; see bench/README.md and docs/bench.md.
import { Command, InvalidArgumentError as CommanderArgError } from 'commander';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from './build.js';
import { markdownTable, saveResult } from './report.js';
import { FIGURES, type Figure } from './rows.js';
import { runBench, type BenchOptions } from './run.js';

export { runBench, type BenchOptions } from './run.js';
export { markdownReport, markdownTable, saveResult, type RunResult } from './report.js';
export { median, p90, quantile, ratio, summarize, formatRatio, formatValue, formatSpread, type Summary } from './stats.js';
export { ROWS, FIGURES, type Figure, type RowDef } from './rows.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError('must be a positive integer');
  return n;
}

function podCounts(v: string): number[] {
  return v.split(',').map((s) => positiveInt(s.trim()));
}

function figureList(v: string): Figure[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of list) if (!(FIGURES as readonly string[]).includes(f)) throw new CommanderArgError(`unknown figure "${f}" (known: ${FIGURES.join(', ')})`);
  return list as Figure[];
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('bench')
    .description('berth beside containerd: pod start, memory, restart, exit latency, read rate, ImageFsInfo, Go client reads and pods, steady load, pull, floor, shims')
    .option('--only <figures>', `comma-separated figures (${FIGURES.join(',')})`, figureList, [...FIGURES])
    .option('--reps <n>', 'repetitions per figure and runtime (A/B order alternates)', positiveInt, 3)
    .option('--pods <n>', 'pods for pod start, memory and restart', positiveInt, 20)
    .option('--parallel <n>', 'pods started at once in the parallel pod-start figure', positiveInt, 8)
    .option('--handler <name>', 'berth runtime handler: runc (Go shim) or berth (berth shim)', 'runc')
    .option('--restart-200', 'also measure restart reload with 200 pods', false)
    .option('--go-dial <style>', 'how the Go client dials: bare (socket path as target, kubelet/crictl 1.26-1.28) or unix (unix:// target)', 'bare')
    .option('--steady <counts>', 'pod counts of the kubelet-like steady load (comma list)', podCounts, [60])
    .option('--out <dir>', 'where results go', path.join(projectRoot(), 'bench', 'results'));
  program.parse([...argv], { from: 'user' });
  const opts = program.opts<{ only: Figure[]; reps: number; pods: number; parallel: number; handler: string; restart200: boolean; steady: number[]; goDial: string; out: string }>();
  if (opts.handler !== 'runc' && opts.handler !== 'berth') {
    process.stderr.write(`--handler must be runc or berth, got "${opts.handler}"\n`);
    return 2;
  }
  if (opts.goDial !== 'bare' && opts.goDial !== 'unix') {
    process.stderr.write(`--go-dial must be bare or unix, got "${opts.goDial}"\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench needs root (containerd, runc, netns, iptables)\n');
    return 2;
  }
  const options: BenchOptions = {
    only: opts.only, reps: opts.reps, pods: opts.pods, parallel: opts.parallel, handler: opts.handler,
    restart200: opts.restart200, steadyPods: opts.steady, goDial: opts.goDial, log: (m) => process.stderr.write(`[bench] ${m}\n`),
  };
  const result = await runBench(options);
  process.stdout.write(`\n${markdownTable(result)}\n`);
  if (result.notes.berth) process.stdout.write(`\nberth: ${result.notes.berth}\n`);
  for (const r of result.remarks) process.stdout.write(`- ${r}\n`);
  for (const e of result.errors) process.stdout.write(`error: ${e.figure} (${e.runtime}): ${e.error}\n`);
  const saved = await saveResult(result, path.resolve(opts.out));
  process.stdout.write(`\nsaved ${saved.json}\n      ${saved.md}\n`);
  return 0;
}

// Run when executed directly (node dist/bench/index.js or the esbuild bundle in bench/results/tmp/build), not when imported.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && path.resolve(process.argv[1]) === self) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
