// Pods with and without a pause process (docs/cri.md "Pods without a pause process"), measured on
// berth alone with `drop_infra_container` false (a pause container per pod: berth's path before
// issue #21, and containerd's) and true, alternating per repetition. Kubelet-shaped pods
// (test/fixtures/kubelet-pods.ts, pid CONTAINER) through the Go CRI client on one kept connection
// (test/helpers/go-cri.ts), real runc and CNI (the test harness's network):
//   pod start   RunPodSandbox + CreateContainer + StartContainer of a one-container pod, sequential
//   memory      per pod of two `sleep` containers: PSS of the pod's shim + its pause process (if
//               any) + the daemon's PSS growth, after 2 s of settling
// Run: bench/bench.sh pauseless [--pods N] [--reps N] [--handler runc|berth] (root; a few minutes).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { bundleTestShim, makeShimWrapper, projectRoot } from '../test/helpers/bundle.js';
import { buildGoCri } from '../test/helpers/go-cri.js';
import { startBerth, shimsOf, type CriHandler } from '../test/integration/cri-harness.js';
import { children, cmdline, daemonPid, inContainer, kubeletBench } from './kubelet-node.js';
import { median, p90 } from './stats.js';
import { pssKiB } from './proc.js';

interface Samples { start: number[]; runp: number[]; shim: number[]; pause: number[]; daemon: number[] }

async function measure(drop: boolean, pods: number, handler: CriHandler, into: Samples): Promise<void> {
  const b = await startBerth({ handler, topConfig: [`drop_infra_container = ${drop}`] });
  try {
    const k = await kubeletBench(b);
    try {
      await k.run(['warm']); // images, the local pause image, caches
      await k.removeAll();
      for (let i = 0; i < pods; i++) {
        const t = await k.run(['app']);
        into.start.push(t.total);
        into.runp.push(t.runp);
      }
      await k.removeAll();

      const daemon = daemonPid(b);
      await new Promise((r) => setTimeout(r, 500));
      const before = pssKiB(daemon);
      for (let i = 0; i < pods; i++) await k.run(['a', 'b']);
      await new Promise((r) => setTimeout(r, 2_000)); // lazy pages and GC settle before PSS is read
      const shims = shimsOf(b);
      const pauses = shims.flatMap(children).filter((p) => inContainer(p) && cmdline(p)[0] !== 'sleep');
      into.shim.push(shims.reduce((n, p) => n + pssKiB(p), 0) / pods);
      into.pause.push(pauses.reduce((n, p) => n + pssKiB(p), 0) / pods);
      into.daemon.push((pssKiB(daemon) - before) / pods);
      process.stderr.write(`  drop_infra_container=${drop}: ${shims.length} shims, ${pauses.length} pause processes for ${pods} pods\n`);
    } finally {
      await k.close();
    }
  } finally {
    await b.stop();
  }
}

const fmt = (xs: number[], unit: string, scale = 1) => `${(median(xs) / scale).toFixed(unit === 'ms' ? 1 : 2)} / ${(p90(xs) / scale).toFixed(unit === 'ms' ? 1 : 2)} ${unit}`;

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, def: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : def);
  const pods = Number(arg('--pods', '10'));
  const reps = Number(arg('--reps', '2'));
  const handler = arg('--handler', 'runc') as CriHandler;
  await buildGoCri();
  // berth's shim for --handler berth, bundled as test/global-setup.ts does
  const shimDir = path.join(projectRoot, 'node_modules/.cache/berth-test', `shim-bin-${process.pid}`);
  if (handler === 'berth' && !process.env.BERTH_SHIM_PATH) {
    process.env.BERTH_SHIM_PATH = await makeShimWrapper(shimDir);
    await bundleTestShim();
  }
  const with_: Samples = { start: [], runp: [], shim: [], pause: [], daemon: [] };
  const without: Samples = { start: [], runp: [], shim: [], pause: [], daemon: [] };
  for (let r = 0; r < reps; r++) {
    for (const drop of r % 2 === 0 ? [false, true] : [true, false]) await measure(drop, pods, handler, drop ? without : with_);
  }
  const total = (s: Samples) => s.shim.map((x, i) => x + s.pause[i]! + s.daemon[i]!);
  const rows: Array<[string, (s: Samples) => string]> = [
    ['pod start (runp + create + start, 1 container), sequential', (s) => fmt(s.start, 'ms')],
    ['  of it RunPodSandbox', (s) => fmt(s.runp, 'ms')],
    ['shim PSS per pod (2 sleep containers)', (s) => fmt(s.shim, 'MiB', 1024)],
    ['pause process PSS per pod', (s) => fmt(s.pause, 'MiB', 1024)],
    ['daemon PSS growth per pod', (s) => fmt(s.daemon, 'MiB', 1024)],
    ['memory per pod (shim + pause + daemon growth)', (s) => fmt(total(s), 'MiB', 1024)],
  ];
  const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`;
  const ratios = [ratio(without.start, with_.start), ratio(without.runp, with_.runp), ratio(without.shim, with_.shim), '', ratio(without.daemon, with_.daemon), ratio(total(without), total(with_))];
  process.stdout.write(`handler ${handler}, ${pods} pods x ${reps} reps, median / p90\n\n`);
  process.stdout.write('| figure | pause (drop_infra_container = false) | pause-less (true) | ratio |\n| --- | --- | --- | --- |\n');
  rows.forEach(([name, f], i) => process.stdout.write(`| ${name} | ${f(with_)} | ${f(without)} | ${ratios[i]} |\n`));
  await rm(shimDir, { recursive: true, force: true });
}

main(process.argv.slice(2)).then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`pauseless bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
