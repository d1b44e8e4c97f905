// The figures driven by the Go CRI client of the tests (test/go/src/gocri: grpc-go 1.33 from
// Debian, dialling the bare socket path as kubelet and crictl 1.26-1.28 do, or unix:// with
// --go-dial unix), in two ways each: on one kept connection (kubelet) and with a new connection
// per call (crictl, exec probes, scripts).
// Light calls are timed inside the Go program (a loop of calls, each timed with Go's clock), so
// the bench's own JSON and pipe do not count; pod start and restart are timed here (4 calls per
// pod, the pipe adds ~0.1 ms to each). docs/bench.md (the Go client figures).
import { startGoCri, type GoCriClients, type GoCriLoop } from '../test/helpers/go-cri.js';
import type { Daemon } from './daemon.js';
import {
  hundredContainers, parallelStarts, pullMany, removeMany, removePods, sequentialStarts, type FigureContext, type Samples,
} from './figures.js';
import {
  addContainer, CONTAINER_EXITED, CONTAINER_RUNNING, eachLimited, runPod, startPodWithSleep, type CriTarget, type Pod,
} from './pods.js';
import { cpuMs, mustRun, nowMs, pssKiB, rand, removeCgroupTree, sleep, waitFor } from './proc.js';

/** The two ways a Go client meets the daemon, and the row suffix of each. */
export const GO_MODES = [
  { id: 'kept', title: 'kept connection (kubelet)', perCall: false },
  { id: 'once', title: 'connection per call (crictl)', perCall: true },
] as const;

/** Calls per timed loop: on a kept connection, and with a dial per call (each dial costs ~1-2 ms). */
const KEPT_CALLS = 1_000;
const ONCE_CALLS = 300;
/**
 * Untimed calls first, each way: a daemon serving kubelet all day runs these paths optimized,
 * and V8 needs some thousand calls to get there (berth's Version on a kept connection: 2.6 ms
 * over the first 2000 calls, 0.2 ms from the 4000th).
 */
const WARM_KEPT = 3_000;
const WARM_ONCE = 300;

interface GoClients {
  kept: GoCriClients;
  once: GoCriClients;
}

async function goClients(d: Daemon, ctx: FigureContext): Promise<GoClients> {
  const kept = await startGoCri(d.socket, { conn: 'kept', dial: ctx.goDial });
  try {
    return { kept, once: await startGoCri(d.socket, { conn: 'per-call', dial: ctx.goDial }) };
  } catch (err) {
    await kept.close();
    throw err;
  }
}

async function closeGo(c: GoClients): Promise<void> {
  await Promise.all([c.kept.close(), c.once.close()]);
}

const via = (d: Daemon, client: GoCriClients): CriTarget => ({ handler: d.handler, client });

/**
 * Runs one Go loop and reads the daemon's CPU time around it: each call's time (µs, Go's clock)
 * and the daemon's CPU per call (µs; /proc/<pid>/stat ticks of 10 ms over the whole loop).
 */
async function goLoop(d: Daemon, run: () => Promise<number[]>): Promise<{ us: number[]; cpuUs: number }> {
  const c0 = d.pid ? cpuMs(d.pid) : 0;
  const us = await run();
  const cpu = d.pid ? cpuMs(d.pid) - c0 : Number.NaN;
  return { us, cpuUs: (cpu * 1000) / Math.max(1, us.length) };
}

interface LightCall {
  id: string;
  run: (c: GoCriClients, o: GoCriLoop) => Promise<number[]>;
}

/** The light calls kubelet and crictl make most, on the figure's 100 containers, 10 pods and 50 images. */
function lightCalls(ids: string[], pods: string[], image: string): LightCall[] {
  return [
    { id: 'version', run: (c, o) => c.runtimeLoop('Version', [{}], o) },
    { id: 'ctr-status', run: (c, o) => c.runtimeLoop('ContainerStatus', ids.map((containerId) => ({ containerId })), o) },
    { id: 'pod-status', run: (c, o) => c.runtimeLoop('PodSandboxStatus', pods.map((podSandboxId) => ({ podSandboxId })), o) },
    { id: 'image-status', run: (c, o) => c.imageLoop('ImageStatus', [{ image: { image } }], o) },
    { id: 'list-images', run: (c, o) => c.imageLoop('ListImages', [{}], o) },
    { id: 'list-ctrs', run: (c, o) => c.runtimeLoop('ListContainers', [{}], o) },
    { id: 'list-pods', run: (c, o) => c.runtimeLoop('ListPodSandbox', [{}], o) },
    { id: 'imagefs', run: (c, o) => c.imageLoop('ImageFsInfo', [{}], o) },
  ];
}

/** Containers removed per mode and repetition in the RemoveContainer row. */
const REMOVE_COUNT = 12;

/** `count` containers in `pod` that ran `true` and are EXITED (what kubelet removes). */
async function exitedContainers(d: Daemon, ctx: FigureContext, pod: Pod, prefix: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(await addContainer(d, ctx, pod, `${prefix}${i}`, { command: ['true'] }));
  await waitFor(`${count} containers to exit`, async () => {
    for (const containerId of ids) {
      if ((await d.client.runtime.ContainerStatus({ containerId })).status?.state !== CONTAINER_EXITED) return false;
    }
    return true;
  }, 30_000, 5);
  // Both daemons delete an exited container's task after recording the exit (runc delete, the
  // rootfs unmount): kubelet removes containers long after, so the removals wait for that too.
  const gone = new Set(ids);
  await waitFor(`the tasks of ${count} exited containers to be deleted`, async () => {
    const listed = await mustRun('runc', ['--root', d.spec.runcRoot, 'list', '-q']);
    return !listed.split('\n').some((id) => gone.has(id));
  }, 30_000, 50);
  return ids;
}

/**
 * Daemon PSS with no pods, then the light calls from the Go client (each timed in Go, with the
 * daemon's CPU per call) on 100 containers in 10 pods and 50 images.
 */
export async function goRead(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const out: Samples = {};
  await sleep(3_000); // the previous figure's garbage and released memory settle first
  if (d.pid) out['go-idle-pss'] = [pssKiB(d.pid) / 1024];
  const go = await goClients(d, ctx);
  const made: Pod[] = [];
  try {
    await pullMany(d, ctx);
    const ids = await hundredContainers(d, ctx, made);
    const held = (await d.client.image.ListImages({})).images.length;
    ctx.remark(`Go client rows: grpc-go 1.33.3 (test/go/src/gocri), dial ${ctx.goDial === 'bare' ? 'bare: the socket path as target (kubelet/crictl 1.26-1.28)' : 'unix: a unix:// target'}; light calls on 100 containers in 10 pods and ${held} images, `
      + `each call timed in Go, ${KEPT_CALLS} calls on the kept connection and ${ONCE_CALLS} with a connection each (dial + call + close), after ${WARM_KEPT} and ${WARM_ONCE} untimed; `
      + 'daemon CPU per call from /proc/<pid>/stat over each loop.', 'go-read');
    for (const call of lightCalls(ids, made.map((p) => p.id), ctx.busybox)) {
      await call.run(go.kept, { count: WARM_KEPT });
      await call.run(go.once, { count: WARM_ONCE, perCall: true });
      for (const mode of GO_MODES) {
        const r = await goLoop(d, () => call.run(go[mode.id], { count: mode.perCall ? ONCE_CALLS : KEPT_CALLS, perCall: mode.perCall }));
        out[`go-${call.id}-${mode.id}`] = r.us.map((us) => us / 1000);
        out[`go-${call.id}-${mode.id}-cpu`] = [r.cpuUs];
      }
    }
    return out;
  } finally {
    await closeGo(go);
    await removePods(d, made);
    await removeMany(d, ctx);
  }
}

/** RemoveContainer of exited containers (what kubelet removes), each timed in Go, kept and per call. */
export async function goRemove(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const out: Samples = {};
  const go = await goClients(d, ctx);
  let pod: Pod | undefined;
  try {
    pod = await runPod(d, ctx);
    for (const mode of GO_MODES) {
      const exited = await exitedContainers(d, ctx, pod, `rm-${mode.id}-`, REMOVE_COUNT);
      const r = await goLoop(d, () => go[mode.id].runtimeLoop('RemoveContainer', exited.map((containerId) => ({ containerId })), { perCall: mode.perCall }));
      out[`go-remove-${mode.id}`] = r.us.map((us) => us / 1000);
      out[`go-remove-${mode.id}-cpu`] = [r.cpuUs];
    }
    return out;
  } finally {
    await closeGo(go);
    if (pod) await removePods(d, [pod]);
  }
}

/** Every one of `ids` is listed RUNNING by a ListContainers over a new connection. */
async function allRunningOnce(c: GoCriClients, ids: ReadonlySet<string>): Promise<boolean> {
  try {
    const res = await c.runtime.ListContainers({}, { timeoutMs: 5_000 });
    let running = 0;
    for (const x of res.containers) if (ids.has(x.id ?? '') && x.state === CONTAINER_RUNNING) running++;
    return running === ids.size;
  } catch {
    return false; // not serving yet: no socket, refused, or "server is not initialized yet" (containerd)
  }
}

/**
 * Pod start from the Go client (sequential and `parallel` at once, kept and per call), then kill
 * -9 + restart with `pods` pods until a crictl-like client (a connection per ListContainers, every
 * 5 ms) lists every container RUNNING.
 */
export async function goPods(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const out: Samples = {};
  const go = await goClients(d, ctx);
  const made: Pod[] = [];
  try {
    for (const mode of GO_MODES) {
      const t = via(d, go[mode.id]);
      const seq = await sequentialStarts(t, ctx, made);
      await removePods(d, made.splice(0));
      const { par, wall } = await parallelStarts(t, ctx, made);
      out[`go-start-seq-${mode.id}`] = seq;
      out[`go-start-par-${mode.id}`] = par;
      out[`go-start-wall-${mode.id}`] = [wall];
      await removePods(d, made.splice(0));
    }
    await eachLimited(Array.from({ length: ctx.pods }), Math.max(1, ctx.parallel), async () => {
      made.push(await startPodWithSleep(d, ctx));
    });
    const ids = new Set(made.flatMap((p) => p.containers));
    await d.kill9();
    const t0 = nowMs();
    d.spawn();
    await waitFor(`${d.name} to list ${ids.size} running containers after restart`, () => allRunningOnce(go.once, ids), 120_000, 5);
    out['go-restart'] = [nowMs() - t0];
    await d.waitServing(30_000); // the bench's own grpc-js channel, for the cleanup
    return out;
  } finally {
    await closeGo(go);
    await removePods(d, made);
  }
}

/** Seconds of kubelet-like load per repetition (3 rounds of the 10 s stats calls). */
const STEADY_SECONDS = 30;

/**
 * kubelet's steady calls on one kept connection with `n` pods of one running container each:
 * every second ListPodSandbox + ListContainers (PLEG relist) and PodSandboxStatus +
 * ContainerStatus for a tenth of the pods (pod workers); every 10 s ListPodSandboxStats,
 * ListContainerStats and ImageFsInfo (stats provider, eviction manager). The daemon's CPU over
 * the window per second of load, and each call's time (Go's clock).
 */
async function steadyWith(d: Daemon, ctx: FigureContext, n: number): Promise<Samples> {
  const made: Pod[] = [];
  const cgroupRoot = `/bench-${d.name}-${rand()}`;
  const env = { ...ctx, cgroupRoot };
  const go = await startGoCri(d.socket, { conn: 'kept', dial: ctx.goDial });
  try {
    await eachLimited(Array.from({ length: n }), Math.max(1, ctx.parallel), async () => {
      made.push(await startPodWithSleep(d, env));
    });
    const pods = made.map((p) => ({ pod: p.id, ctr: p.containers[0]! }));
    const times: Record<string, number[]> = { relist: [], status: [], podstats: [], ctrstats: [], imagefs: [] };
    const once = async (row: string, run: () => Promise<number[]>) => {
      times[row]!.push(...(await run()).map((us) => us / 1000));
    };
    const second = async (s: number) => {
      await once('relist', () => go.runtimeLoop('ListPodSandbox', [{}]));
      await once('relist', () => go.runtimeLoop('ListContainers', [{}]));
      for (let k = 0; k < Math.ceil(n / 10); k++) {
        const p = pods[(s * Math.ceil(n / 10) + k) % n]!;
        await once('status', () => go.runtimeLoop('PodSandboxStatus', [{ podSandboxId: p.pod }]));
        await once('status', () => go.runtimeLoop('ContainerStatus', [{ containerId: p.ctr }]));
      }
      if (s % 10 === 0) {
        await once('podstats', () => go.runtimeLoop('ListPodSandboxStats', [{}]));
        await once('ctrstats', () => go.runtimeLoop('ListContainerStats', [{}]));
        await once('imagefs', () => go.imageLoop('ImageFsInfo', [{}]));
      }
    };
    await sleep(3_000); // the pods' start settles first
    await second(0); // warm-up, untimed
    for (const k of Object.keys(times)) times[k] = [];
    const c0 = d.pid ? cpuMs(d.pid) : 0;
    const t0 = nowMs();
    for (let s = 0; s < STEADY_SECONDS; s++) {
      await second(s);
      const next = t0 + (s + 1) * 1000;
      await sleep(Math.max(0, next - nowMs()));
    }
    const cpu = d.pid ? cpuMs(d.pid) - c0 : Number.NaN;
    const out: Samples = { [`steady-${n}-cpu`]: [cpu / ((nowMs() - t0) / 1000)] };
    for (const [row, v] of Object.entries(times)) out[`steady-${n}-${row}`] = v;
    return out;
  } finally {
    await go.close();
    await removePods(d, made);
    await removeCgroupTree(cgroupRoot);
  }
}

export async function steady(d: Daemon, ctx: FigureContext): Promise<Samples> {
  const out: Samples = {};
  for (const n of ctx.steadyPods) Object.assign(out, await steadyWith(d, ctx, n));
  ctx.remark(`steady rows: ${STEADY_SECONDS} s of kubelet-like load per repetition on one kept Go connection; daemon CPU from /proc/<pid>/stat over the window, per second of load.`, 'steady');
  return out;
}
