// One bench run: shared images, network and config; containerd and berth started side by side;
// each figure repeated with the A/B order alternating per repetition so machine drift cancels;
// then everything torn down (pods, daemons, shims, mounts, bridge, iptables, temp dirs).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalError, isBerthError } from '../common/index.js';
import type { KubeletImage } from '../test/fixtures/kubelet-pods.js';
import { bundleBerthShim } from './build.js';
import type { Daemon } from './daemon.js';
import { CRI_FIGURES as CLASSIC_FIGURES, type FigureContext, type Samples } from './figures.js';
import { goPods, goRead, goRemove, steady } from './go-figures.js';
import { floor } from './floor.js';
import { prepareImages, type BenchImages } from './images.js';
import { kubeletImageOf } from './pods.js';
import { benchNetwork, cleanupNetwork, writeCniConfDir } from './network.js';
import { describeMachine, rand } from './proc.js';
import { addSamples, type RunResult } from './report.js';
import { FIGURES, type Figure } from './rows.js';
import { berthDaemon, containerdDaemon, type SharedSetup } from './runtimes.js';
import { nodeFloors, shimFigures, type ShimKind } from './shim.js';

export interface BenchOptions {
  only: Figure[];
  reps: number;
  pods: number;
  parallel: number;
  handler: 'runc' | 'berth';
  restart200: boolean;
  /** Pod counts of the kubelet-like steady load. */
  steadyPods: number[];
  /** How the Go client dials (test/helpers/go-cri.ts GoCriOptions.dial). */
  goDial: 'bare' | 'unix';
  log: (msg: string) => void;
}

/** Every figure that drives the two daemons through the CRI: the bench's grpc-js client, then the Go client. */
const CRI_FIGURES = { ...CLASSIC_FIGURES, 'go-read': goRead, 'go-remove': goRemove, 'go-pods': goPods, steady } as const;

const errText = (err: unknown): string => (isBerthError(err) ? `${err.kind}: ${err.message}` : String(err instanceof Error ? err.message : err)).slice(0, 600);

/**
 * Pulls the pod images through the CRI (so both daemons hold the same ones before timing); busybox
 * as kubelet's EnsureImageExists then knows it (its id is what CreateContainer gets).
 */
async function warmUp(d: Daemon, images: BenchImages): Promise<KubeletImage> {
  for (const image of [images.pause, images.busybox]) await d.client.image.PullImage({ image: { image } }, { timeoutMs: 120_000 });
  const st = await d.client.image.ImageStatus({ image: { image: images.busybox } });
  if (!st.image?.id) throw new InternalError(`${d.name} has no ${images.busybox} after pulling it`);
  return kubeletImageOf(images.busybox, st.image);
}

export async function runBench(o: BenchOptions): Promise<RunResult> {
  const result: RunResult = {
    startedAt: new Date().toISOString(), machine: describeMachine(),
    options: { only: o.only, reps: o.reps, pods: o.pods, parallel: o.parallel, handler: o.handler, restart200: o.restart200, steadyPods: o.steadyPods, goDial: o.goDial },
    samples: {}, notes: {}, errors: [], remarks: [],
  };
  const wants = (f: Figure) => o.only.includes(f);
  const runId = rand();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bb-run-'));
  const net = benchNetwork(runId);
  const daemons: Daemon[] = [];
  let images: BenchImages | undefined;
  let busyboxImage: KubeletImage | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    o.log('interrupted: cleaning up after the current step');
  };
  process.on('SIGINT', onSignal);
  try {
    const criFigures = FIGURES.filter((f) => f in CRI_FIGURES && wants(f)) as (keyof typeof CRI_FIGURES)[];
    if (criFigures.length > 0) {
      const cniConfDir = await writeCniConfDir(path.join(dir, 'net.d'), net);
      o.log('building images and starting the local registry');
      images = await prepareImages(path.join(dir, 'images'), wants('pull'), wants('imagefs') || wants('go-read'));
      const shared: SharedSetup = { dir, cniConfDir, registryHost: images.registry.host, pauseImage: images.pause };
      o.log('starting containerd');
      const ctrd = await containerdDaemon(shared);
      daemons.push(ctrd);
      try {
        await ctrd.start();
        busyboxImage = await warmUp(ctrd, images);
      } catch (err) {
        result.notes.containerd = `n/a (${errText(err)})`;
        daemons.pop();
        await ctrd.cleanup();
      }
      o.log('starting berth');
      try {
        const berth = await berthDaemon(shared, o.handler);
        daemons.push(berth);
        try {
          await berth.start(30_000);
          const seen = await warmUp(berth, images);
          if (busyboxImage && busyboxImage.ref !== seen.ref) throw new InternalError(`busybox is ${seen.ref} in berth, ${busyboxImage.ref} in containerd`);
          busyboxImage = seen;
        } catch (err) {
          daemons.pop();
          await berth.cleanup();
          throw err;
        }
      } catch (err) {
        result.notes.berth = `n/a (daemon not available: ${errText(err)})`;
        o.log(`berth: ${result.notes.berth}`);
      }
      const keyed = new Map<string, number>(); // remark key -> its index in result.remarks
      const ctx: FigureContext = {
        dir, logRoot: path.join(dir, 'pod-logs'), kubeletRoot: path.join(dir, 'kubelet'), busybox: images.busybox, busyboxImage: busyboxImage ?? kubeletImageOf(images.busybox, {}), pods: o.pods, parallel: o.parallel,
        bigImage: images.big, bigBytes: images.bigBytes, manyImages: images.many, restart200: o.restart200, steadyPods: o.steadyPods, goDial: o.goDial, log: o.log,
        remark: (m, key) => {
          const at = key === undefined ? undefined : keyed.get(key);
          if (at !== undefined) {
            result.remarks[at] = m;
          } else if (!result.remarks.includes(m)) {
            if (key !== undefined) keyed.set(key, result.remarks.length);
            result.remarks.push(m);
          }
        },
      };
      for (const fig of criFigures) {
        for (let rep = 0; rep < o.reps && !interrupted; rep++) {
          const order = rep % 2 === 0 ? daemons : [...daemons].reverse();
          for (const d of order) {
            if (interrupted) break;
            o.log(`${fig} rep ${rep + 1}/${o.reps}: ${d.name}`);
            try {
              addSamples(result, d.name, await CRI_FIGURES[fig](d, ctx));
            } catch (err) {
              result.errors.push({ figure: fig, runtime: d.name, error: errText(err) });
              o.log(`  failed: ${errText(err)}`);
            }
          }
        }
      }
      result.remarks.push(`CRI rows: containerd with handler runc (containerd-shim-runc-v2); berth with handler ${o.handler}.`);
    }
    if (wants('floor') && !interrupted) {
      o.log('floor: runc run -d and CNI ADD');
      try {
        addSamples(result, 'floor', await floor(dir, net, Math.max(5, o.reps * 3)));
      } catch (err) {
        result.errors.push({ figure: 'floor', runtime: 'floor', error: errText(err) });
      }
    }
    if (wants('shim') && !interrupted) await runShimFigures(o, result);
  } finally {
    process.off('SIGINT', onSignal);
    o.log('cleaning up');
    for (const d of daemons) await d.cleanup().catch((err: unknown) => o.log(`cleanup of ${d.name}: ${errText(err)}`));
    await images?.registry.stop().catch(() => undefined);
    await cleanupNetwork(net).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

async function runShimFigures(o: BenchOptions, result: RunResult): Promise<void> {
  let script: string | undefined;
  try {
    script = (await bundleBerthShim()).launcher;
  } catch (err) {
    result.remarks.push(`berth shim: n/a (${errText(err)})`);
  }
  const kinds: ShimKind[] = script ? ['runc', 'berth'] : ['runc'];
  for (let rep = 0; rep < o.reps; rep++) {
    for (const kind of rep % 2 === 0 ? kinds : [...kinds].reverse()) {
      o.log(`shim rep ${rep + 1}/${o.reps}: ${kind}`);
      try {
        const s: Samples = await shimFigures(kind, script, { starts: 5, pods: Math.min(o.pods, 10) });
        addSamples(result, kind === 'runc' ? 'containerd' : 'berth', s);
      } catch (err) {
        result.errors.push({ figure: 'shim', runtime: kind, error: errText(err) });
        o.log(`  failed: ${errText(err)}`);
      }
    }
  }
  try {
    addSamples(result, 'floor', await nodeFloors(5, Math.min(o.pods, 10)));
  } catch (err) {
    result.errors.push({ figure: 'shim', runtime: 'floor', error: errText(err) });
  }
  result.remarks.push('shim floors: a bare `node --max-semi-space-size=1 -e 0` (spawn to exit) and the PSS of as many bare idle Node processes as pods: what any shim in Node pays before loading berth.');
  result.remarks.push('shim rows: "berth" = containerd-shim-berth-v2 run by its launcher (node --max-semi-space-size=1, one CommonJS esbuild bundle), "containerd" = containerd-shim-runc-v2 1.6.20.');
  result.remarks.push('shim start rows: cold = berth\'s spares off (BERTH_SHIM_SPARE=0), each start boots Node; warm = a node already running one pod whose start left a spare (shim/spare.ts), the next start waits until the spare is ready (runc: the same 0.5 s pause) and adopts it. Starts come one after another with each shim shut down before the next, so warm holds only for starts spaced wider than a spare\'s boot (~0.2-1 s).');
}
