// The CRI figures, each one repetition against one daemon, returning samples by row id. The
// runner calls them for containerd and berth in alternating order. Every figure removes the pods
// it made before returning, so the next one starts from an empty daemon.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { isBerthError } from '../common/index.js';
import type { Daemon } from './daemon.js';
import {
  addContainer, CONTAINER_EXITED, CONTAINER_RUNNING, eachLimited, removePod, runPod, SLEEP, startPodWithSleep, type CriTarget, type Phases, type Pod, type PodEnv,
} from './pods.js';
import { cpuMs, mustRun, nowMs, pssKiB, rand, sleep, waitFor } from './proc.js';

export type Samples = Record<string, number[]>;

export interface FigureContext extends PodEnv {
  dir: string;
  pods: number;
  parallel: number;
  bigImage: string;
  bigBytes: number;
  /** The small images the ImageFsInfo figure pulls (bench/images.ts MANY_IMAGES). */
  manyImages: readonly string[];
  /** Run the 200-pod restart figure too. */
  restart200: boolean;
  /** Pod counts of the kubelet-like steady load (bench/go-figures.ts). */
  steadyPods: readonly number[];
  /** How the Go client dials: `bare` (the socket path as target, kubelet/crictl 1.26-1.28) or `unix`. */
  goDial: 'bare' | 'unix';
  log: (msg: string) => void;
  /** Adds a line under the table (deduplicated); a later line with the same `key` replaces the earlier one. */
  remark: (msg: string, key?: string) => void;
}

export async function removePods(d: Daemon, pods: readonly Pod[]): Promise<void> {
  await eachLimited(pods, 4, (p) => removePod(d, p.id));
}

/** 100 containers in 10 pods, created but not started (reads of them come from the daemon's store); pods go into `made`. */
export async function hundredContainers(d: Daemon, ctx: FigureContext, made: Pod[]): Promise<string[]> {
  await eachLimited(Array.from({ length: 10 }), 2, async () => {
    const pod = await runPod(d, ctx);
    made.push(pod);
    for (let c = 0; c < 10; c++) await addContainer(d, ctx, pod, `c${c}`, { command: SLEEP, start: false });
  });
  return made.flatMap((p) => p.containers);
}

/** Pulls the ImageFsInfo figure's small images (50 held with busybox and pause). */
export async function pullMany(d: Daemon, ctx: FigureContext): Promise<void> {
  await eachLimited(ctx.manyImages, 4, async (image) => {
    await d.client.image.PullImage({ image: { image } }, { timeoutMs: 120_000 });
  });
}

export async function removeMany(d: Daemon, ctx: FigureContext): Promise<void> {
  await eachLimited(ctx.manyImages, 4, async (image) => {
    await d.client.image.RemoveImage({ image: { image } }).catch((err: unknown) => ctx.log(`  removing ${image}: ${String(err)}`));
  });
}

type Timings = Record<string, { at: number; ms: number }>;

function timingsOf(info: { info?: string } | null | undefined): Timings | undefined {
  try {
    return (JSON.parse(info?.info ?? '{}') as { timings?: Timings }).timings;
  } catch {
    return undefined;
  }
}

/** Phase start offsets of every repetition so far, per run (one remark for them all). */
const phaseOffsets = new WeakMap<FigureContext, Map<string, number[]>>();

/**
 * berth's own breakdown of each sequential pod: the phases of RunPodSandbox and of the
 * container's StartContainer, from the "timings" of a verbose PodSandboxStatus/ContainerStatus
 * (phase -> start offset and duration). containerd reports none. The rows get each phase's
 * duration; the remark lists the median start offsets, which show what overlaps.
 */
async function daemonTimings(d: Daemon, ctx: FigureContext, pods: readonly Pod[]): Promise<Samples> {
  if (d.name !== 'berth') return {};
  const out: Samples = {};
  let offsets = phaseOffsets.get(ctx);
  if (!offsets) phaseOffsets.set(ctx, (offsets = new Map()));
  for (const pod of pods) {
    const rt = d.client.runtime;
    const run = timingsOf((await rt.PodSandboxStatus({ podSandboxId: pod.id, verbose: true })).info);
    const cid = pod.containers[0];
    const start = cid ? timingsOf((await rt.ContainerStatus({ containerId: cid, verbose: true })).info) : undefined;
    for (const [prefix, t] of [['run', run], ['start', start]] as const) {
      for (const [phase, p] of Object.entries(t ?? {})) {
        (out[`${prefix}:${phase}`] ??= []).push(p.ms);
        if (prefix === 'run') (offsets.get(phase) ?? offsets.set(phase, []).get(phase)!).push(p.at);
      }
    }
  }
  if (offsets.size === 0) ctx.remark('berth pod-start breakdown by phase: n/a (no "timings" in the verbose statuses)', 'phases');
  else {
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
    const at = [...offsets].map(([phase, v]) => `${phase} +${median(v).toFixed(0)}`).join(', ');
    ctx.remark(`berth RunPodSandbox phases start at (median ms after the call's start, all repetitions): ${at}`, 'phases');
  }
  return out;
}

/** `ctx.pods` pods started one after another through `t` (added to `made`): ms per pod. */
export async function sequentialStarts(t: CriTarget, ctx: FigureContext, made: Pod[], phases?: Phases[]): Promise<number[]> {
  const seq: number[] = [];
  for (let i = 0; i < ctx.pods; i++) {
    const t0 = nowMs();
    made.push(await startPodWithSleep(t, ctx, phases));
    seq.push(nowMs() - t0);
  }
  return seq;
}

/** `ctx.parallel` pods started at once through `t` (added to `made`): ms per pod, and the wall time for all. */
export async function parallelStarts(t: CriTarget, ctx: FigureContext, made: Pod[]): Promise<{ par: number[]; wall: number }> {
  const par: number[] = [];
  const t0 = nowMs();
  await Promise.all(Array.from({ length: ctx.parallel }, async () => {
    const t1 = nowMs();
    made.push(await startPodWithSleep(t, ctx));
    par.push(nowMs() - t1);
  }));
  return { par, wall: nowMs() - t0 };
}

export async function podStart(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const made: Pod[] = [];
  const phases: Phases[] = [];
  try {
    const seq = await sequentialStarts(d, ctx, made, phases);
    const timings = await daemonTimings(d, ctx, made);
    await removePods(d, made.splice(0));
    const { par, wall } = await parallelStarts(d, ctx, made);
    return {
      'pod-start-seq': seq, 'pod-start-par': par, 'pod-start-par-wall': [wall],
      'phase-run': phases.map((p) => p.run), 'phase-create': phases.map((p) => p.create), 'phase-start': phases.map((p) => p.start),
      ...timings,
    };
  } finally {
    await removePods(d, made);
  }
}

const MiB = 1024;

export async function memory(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const pid = d.pid;
  const made: Pod[] = [];
  try {
    await sleep(500);
    const before = pid ? pssKiB(pid) : 0;
    for (let i = 0; i < ctx.pods; i++) {
      const pod = await runPod(d, ctx);
      made.push(pod);
      await addContainer(d, ctx, pod, 'a', { command: SLEEP });
      await addContainer(d, ctx, pod, 'b', { command: SLEEP });
    }
    await sleep(2_000); // let the shims settle (lazy pages, GC) before reading PSS
    const shims = d.shimPids();
    const shimKiB = shims.reduce((n, p) => n + pssKiB(p), 0);
    const growth = pid ? pssKiB(pid) - before : Number.NaN;
    const perPodShim = shimKiB / ctx.pods / MiB;
    const perPodDaemon = growth / ctx.pods / MiB;
    ctx.log(`  ${d.name}: ${shims.length} shim processes for ${ctx.pods} pods`);
    return { 'mem-shim': [perPodShim], 'mem-daemon': [perPodDaemon], 'mem-total': [perPodShim + perPodDaemon] };
  } finally {
    await removePods(d, made);
  }
}

/** Every one of `ids` is listed RUNNING. */
async function allRunning(d: Daemon, ids: ReadonlySet<string>): Promise<boolean> {
  try {
    const res = await d.client.runtime.ListContainers({}, { timeoutMs: 5_000 });
    let running = 0;
    for (const c of res.containers) if (ids.has(c.id ?? "") && c.state === CONTAINER_RUNNING) running++;
    return running === ids.size;
  } catch {
    d.resetClient();
    return false;
  }
}

/** kill -9 + restart with `n` pods: ms until a client sees them all RUNNING, and the new daemon's CPU ms by then. */
async function restartWith(d: Daemon, ctx: FigureContext, n: number): Promise<{ ms: number; cpuMs: number }> {
  const made: Pod[] = [];
  try {
    await eachLimited(Array.from({ length: n }), Math.max(1, ctx.parallel), async () => {
      made.push(await startPodWithSleep(d, ctx));
    });
    const ids = new Set(made.flatMap((p) => p.containers));
    await d.kill9();
    const t0 = nowMs();
    await d.start(120_000);
    await waitFor(`${d.name} to list ${ids.size} running containers after restart`, () => allRunning(d, ids), 120_000, 5);
    const ms = nowMs() - t0;
    return { ms, cpuMs: d.pid ? cpuMs(d.pid) : Number.NaN };
  } finally {
    await removePods(d, made);
  }
}

export async function restart(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const r20 = await restartWith(d, ctx, ctx.pods);
  const out: Samples = { 'restart-20': [r20.ms], 'restart-20-cpu': [r20.cpuMs] };
  if (ctx.restart200) {
    const r200 = await restartWith(d, ctx, 200);
    out['restart-200'] = [r200.ms];
    out['restart-200-cpu'] = [r200.cpuMs];
  }
  return out;
}

/** Opens a FIFO for writing once its reader (the container's shell) has it open; never blocks the loop. */
async function openWriter(fifo: string): Promise<number> {
  let fd = -1;
  await waitFor(`a reader on ${fifo}`, () => {
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false;
      throw err;
    }
  }, 20_000, 1);
  return fd;
}

export async function exitLatency(d: Daemon, ctx: FigureContext, count = 5): Promise<Samples> {
  const rt = d.client.runtime;
  const fifoDir = path.join(ctx.dir, `exit-${d.name}-${rand()}`);
  await mkdir(fifoDir, { recursive: true });
  const status: number[] = [];
  const event: number[] = [];
  const stopped = new Map<string, number>();
  let eventsUnsupported = false;
  const stream = rt.GetContainerEvents({});
  stream.on('data', (ev: { containerId: string; containerEventType: number }) => {
    if (ev.containerEventType === 2 && !stopped.has(ev.containerId)) stopped.set(ev.containerId, nowMs());
  });
  stream.on('error', (err: { code?: number }) => {
    if (err.code === 12) eventsUnsupported = true; // UNIMPLEMENTED (containerd 1.6)
  });
  const pod = await runPod(d, ctx);
  try {
    for (let i = 0; i < count; i++) {
      const fifo = path.join(fifoDir, `go${i}`);
      await mustRun('mkfifo', [fifo]);
      const cid = await addContainer(d, ctx, pod, `exit${i}`, {
        command: ['sh', '-c', `read x < /x/go${i}; exit 3`], mounts: [{ containerPath: '/x', hostPath: fifoDir }],
      });
      const fd = await openWriter(fifo);
      const t0 = nowMs();
      writeSync(fd, 'go\n');
      closeSync(fd);
      for (;;) {
        const st = await rt.ContainerStatus({ containerId: cid });
        if (st.status?.state === CONTAINER_EXITED) break;
        await sleep(1);
      }
      status.push(nowMs() - t0);
      if (!eventsUnsupported) {
        await waitFor('CONTAINER_STOPPED event', () => eventsUnsupported || stopped.has(cid), 10_000, 1).catch(() => undefined);
        const at = stopped.get(cid);
        if (at !== undefined) event.push(at - t0);
      }
    }
  } finally {
    stream.cancel();
    await removePod(d, pod.id);
  }
  return { 'exit-status': status, 'exit-event': event };
}

interface Rate {
  perSecond: number;
  /** CPU time per call, µs: the daemon process and this (client) process. */
  daemonCpuUs: number;
  clientCpuUs: number;
}

/** Calls `call` back to back from `clients` concurrent loops for `ms`: calls per second and CPU per call. */
async function rate(d: Daemon, clients: number, ms: number, call: (client: number) => Promise<unknown>): Promise<Rate> {
  let done = 0;
  const until = nowMs() + ms;
  const t0 = nowMs();
  const daemon0 = d.pid ? cpuMs(d.pid) : 0;
  const client0 = process.cpuUsage();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    while (nowMs() < until) {
      await call(c);
      done++;
    }
  }));
  const client = process.cpuUsage(client0);
  const daemonMs = d.pid ? cpuMs(d.pid) - daemon0 : 0;
  return {
    perSecond: done / ((nowMs() - t0) / 1000),
    daemonCpuUs: (daemonMs * 1000) / done,
    clientCpuUs: (client.user + client.system) / done,
  };
}

export async function readRate(d: Daemon, ctx: FigureContext, windowMs = 2_000): Promise<Samples> {
  const made: Pod[] = [];
  const clients = Array.from({ length: 8 }, () => d.newClient());
  try {
    const ids = await hundredContainers(d, ctx, made);
    const out: Samples = {};
    const put = (row: string, r: Rate): void => {
      out[row] = [r.perSecond];
      out[`${row}-daemon-cpu`] = [r.daemonCpuUs];
      out[`${row}-client-cpu`] = [r.clientCpuUs];
    };
    for (const n of [1, 8]) {
      put(`read-list-${n}`, await rate(d, n, windowMs, (c) => clients[c]!.runtime.ListContainers({})));
      let k = 0;
      put(`read-status-${n}`, await rate(d, n, windowMs, (c) => clients[c]!.runtime.ContainerStatus({ containerId: ids[k++ % ids.length]! })));
    }
    // The RPC stack alone (grpc-js on Node's HTTP/2 for berth, grpc-go for containerd): Version
    // reads nothing, so its CPU per call is what every small read costs before any work.
    put('read-version-8', await rate(d, 8, windowMs, (c) => clients[c]!.runtime.Version({})));
    return out;
  } finally {
    for (const c of clients) c.close();
    await removePods(d, made);
  }
}

/**
 * Reads the image's manifest and blobs from the registry, untimed, right before a timed pull: the
 * registry (and the machine) answers a pull after a quiet spell much slower than one right after
 * another (a plain fetch of the 52 MB: 388 ms after 35 s idle, 260 ms just after), and with the
 * A/B order that cost fell on whichever daemon pulled first.
 */
async function warmRegistry(image: string): Promise<void> {
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(image);
  if (!m) throw new Error(`bench image ${image}: not host/repo:tag`);
  const [, host, repo, tag] = m;
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: { accept } });
  if (!res.ok) throw new Error(`registry warm-up: manifest ${res.status}`);
  const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const { digest } of [manifest.config, ...manifest.layers]) {
    const blob = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
    if (!blob.ok) throw new Error(`registry warm-up: blob ${digest} ${blob.status}`);
    await blob.arrayBuffer();
  }
}

export async function pull(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const img = d.client.image;
  await warmRegistry(ctx.bigImage);
  const cpu0 = d.pid ? cpuMs(d.pid) : 0;
  const t0 = nowMs();
  await img.PullImage({ image: { image: ctx.bigImage } }, { timeoutMs: 300_000 });
  const s = (nowMs() - t0) / 1000;
  // The daemon's CPU (all its threads) for the pull: on a loaded machine, what decides its rate.
  const cpu = d.pid ? cpuMs(d.pid) - cpu0 : 0;
  await img.RemoveImage({ image: { image: ctx.bigImage } }).catch((err: unknown) => {
    if (!(isBerthError(err) && err.kind === 'not-found')) throw err;
  });
  return { pull: [ctx.bigBytes / 1e6 / s], 'pull-daemon-cpu': [cpu] };
}

const SETTLE_MS = 3_000;
const WARM_CALLS = 200;

/**
 * ImageFsInfo with 50 images held (busybox, pause and the 48 small ones, pulled for it and removed
 * after): one client on a kept connection times each call, ImageFsInfo and Version (the RPC
 * round trip every call pays before any work) in turn; then the daemon's CPU per call of each,
 * called alone back to back. kubelet asks every few seconds, `crictl ps` on every run
 * (docs/images.md "Disk usage").
 */
export async function imageFs(d: Daemon, ctx: FigureContext, windowMs = 2_000): Promise<Samples> {
  const img = d.client.image;
  try {
    await pullMany(d, ctx);
    const held = (await img.ListImages({})).images.length;
    ctx.remark(`ImageFsInfo rows: ${held} images held by each daemon; 1 client on a kept connection, each call timed, ImageFsInfo and Version in turn for `
      + `${windowMs / 1000} s (after ${SETTLE_MS / 1000} s and ${WARM_CALLS} calls untimed); daemon CPU per call from ${windowMs / 1000} s of each alone.`, 'imagefs');
    // What the pulls leave behind (berth's memory release 1 s after, GC, level compactions) is
    // not the calls' cost: it passes first, then the calls' code is warmed up.
    await sleep(SETTLE_MS);
    for (let i = 0; i < WARM_CALLS; i++) await img.ImageFsInfo({});
    // Each call timed, ImageFsInfo and Version (the RPC round trip alone, the floor under it) in
    // turn on the same client, so both see the same machine; then each alone for its daemon CPU.
    const perCall: Samples = { 'imagefs-1': [], 'imagefs-version-1': [] };
    const calls = [['imagefs-1', () => img.ImageFsInfo({})], ['imagefs-version-1', () => d.client.runtime.Version({})]] as const;
    for (const until = nowMs() + windowMs; nowMs() < until;) {
      for (const [row, call] of calls) {
        const t = nowMs();
        await call();
        perCall[row]!.push((nowMs() - t) * 1000);
      }
    }
    const r = await rate(d, 1, windowMs, () => img.ImageFsInfo({}));
    const v = await rate(d, 1, windowMs, () => d.client.runtime.Version({}));
    return { ...perCall, 'imagefs-1-daemon-cpu': [r.daemonCpuUs], 'imagefs-version-1-daemon-cpu': [v.daemonCpuUs] };
  } finally {
    await removeMany(d, ctx);
  }
}

export const CRI_FIGURES = {
  'pod-start': podStart,
  memory,
  restart,
  exit: exitLatency,
  read: readRate,
  pull,
  imagefs: imageFs,
} as const;
