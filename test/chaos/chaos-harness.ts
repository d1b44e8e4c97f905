// The chaos cycle (docs/crash-safety.md): a kubelet-shaped client drives one pod with one
// container through its whole life (pull, run, create, start, exit, stop, remove) against a daemon
// that dies with SIGKILL once, either at a named fault point (BERTH_FAULT, common/fault.ts) or at
// a random moment. After each death the daemon is started again without the fault and the client
// carries on as kubelet does: it lists what exists and retries from there, with the same names
// and attempt when nothing of the cut-short call is left. Then the census: with the pod removed
// and the daemon stopped, nothing berth made may be left.
import { existsSync, lstatSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { openStore } from '../../cri/store/index.js';
import { runtime } from '../../proto/cri.js';
import { shimSocketAddress } from '../../shim/socket-address.js';
import { readMountInfo } from '../../sys/index.js';
import { podConfig, shimsOf, sparesOf, until, type Berth, type CriHandler } from '../integration/cri-harness.js';
import { leftovers } from '../integration/network-harness.js';

const v1 = runtime.v1;
const EXIT_CODE = 7;

/** One cycle: how the daemon dies and which shim serves the pod. */
export interface Cycle {
  /** A fault point name, or `random:<ms>` (SIGKILL from outside after that many ms). */
  kill: string;
  handler: CriHandler;
  image: string;
}

export interface CycleResult {
  cycle: Cycle;
  /** Times the daemon died during the cycle (0: the point was not reached, or the random kill came late). */
  crashes: number;
  /** What the census found left after everything was removed (empty: no leak). */
  leaks: string[];
  ms: number;
}

/** The client's view across restarts: what it created, what it was told. */
interface ClientState {
  podUid: string;
  config: ReturnType<typeof podConfig>;
  /** Container ids CreateContainer returned that the client did not remove yet. */
  created: Set<string>;
  phase: 'run' | 'teardown' | 'done';
}

/** Calls `fn`; when the daemon died meanwhile, starts it again (no fault) and calls `fn` again. */
async function survive(b: Berth, crashes: { n: number }, fn: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (!(await b.exited(3_000))) throw err; // a real failure, not a crash
      if (++crashes.n > 3) throw new Error(`the daemon died ${crashes.n} times in one cycle`, { cause: err });
      await b.kill('SIGKILL'); // reaps it; the CRI client is closed
      await b.start();
    }
  }
}

const podsOf = async (b: Berth, s: ClientState) => (await b.cri.runtime.ListPodSandbox({}))
  .items.filter((p) => p.metadata?.uid === s.podUid);

/** kubelet's SyncPod for a pod whose single container runs to completion (restartPolicy Never). */
async function syncPod(b: Berth, s: ClientState, c: Cycle): Promise<void> {
  const rt = b.cri.runtime;
  if ((await b.cri.image.ImageStatus({ image: { image: c.image } })).image == null) await b.cri.image.PullImage({ image: { image: c.image } });
  const pods = await podsOf(b, s);
  let pod = pods.find((p) => p.state === v1.PodSandboxState.SANDBOX_READY);
  if (!pod) {
    // A sandbox that is not ready is replaced by a new attempt (kubelet's podSandboxChanged);
    // with none listed, the same attempt again.
    const attempt = pods.length === 0 ? 0 : Math.max(...pods.map((p) => p.metadata?.attempt ?? 0)) + 1;
    for (const p of pods) await removePod(b, s, p.id!);
    const config = { ...s.config, metadata: { ...s.config.metadata, attempt } };
    const { podSandboxId } = await rt.RunPodSandbox({ config, runtimeHandler: c.handler });
    pod = { id: podSandboxId, metadata: config.metadata };
  }
  const config = { ...s.config, metadata: { ...s.config.metadata, attempt: pod.metadata?.attempt ?? 0 } };
  const listed = (await rt.ListContainers({ filter: { podSandboxId: pod.id! } })).containers;
  let ctr = listed.find((x) => x.metadata?.name === 'main');
  if (!ctr) {
    const { containerId } = await rt.CreateContainer({
      podSandboxId: pod.id!, sandboxConfig: config,
      config: { metadata: { name: 'main', attempt: 0 }, image: { image: c.image }, command: ['/bin/sh', '-c', `sleep 0.3; exit ${EXIT_CODE}`], logPath: 'main.log' },
    });
    s.created.add(containerId);
    ctr = { id: containerId, state: v1.ContainerState.CONTAINER_CREATED };
  }
  if (ctr.state === v1.ContainerState.CONTAINER_CREATED) await rt.StartContainer({ containerId: ctr.id! });
  // Every container the client created is listed (the ones of replaced sandboxes went with them).
  const all = new Set((await rt.ListContainers({})).containers.map((x) => x.id));
  for (const id of s.created) if (!all.has(id)) throw new LeakError(`container ${id} the client created is not listed`);
  const st = await until(async () => {
    const x = (await rt.ContainerStatus({ containerId: ctr.id! })).status!;
    return x.state === v1.ContainerState.CONTAINER_EXITED ? x : undefined;
  }, 'the container to exit', 20_000);
  if (st.exitCode !== EXIT_CODE) throw new LeakError(`container ${ctr.id} exited with ${st.exitCode} (${st.reason}), not ${EXIT_CODE}`);
  s.phase = 'teardown';
}

/** Stops the pod, removes what it lists and what the client created (RemoveContainer of an unknown id succeeds), then the pod. */
async function removePod(b: Berth, s: ClientState, id: string): Promise<void> {
  const rt = b.cri.runtime;
  await rt.StopPodSandbox({ podSandboxId: id });
  const listed = (await rt.ListContainers({ filter: { podSandboxId: id } })).containers.map((x) => x.id!);
  for (const x of new Set([...listed, ...s.created])) {
    await rt.RemoveContainer({ containerId: x });
    s.created.delete(x);
  }
  await rt.RemovePodSandbox({ podSandboxId: id });
}

/** A check the cycle failed (reported as a leak, not as a crash). */
class LeakError extends Error {}

const ls = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

function walk(dir: string, visit: (p: string, st: Stats) => void): void {
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    visit(p, st);
    if (st.isDirectory()) walk(p, visit);
  }
}

/** The sockets under the daemon's dir while nothing runs (its own CRI, admin and events sockets). */
export function daemonSockets(b: Berth): Set<string> {
  const out = new Set<string>();
  walk(b.dir, (p, st) => { if (st.isSocket()) out.add(p); });
  return out;
}

/** Ids the daemon made (sandbox and container ids are 64 hex digits; image digests carry sha256:). */
function idsInLog(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![:0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g)].map((m) => m[0]));
}

/**
 * Everything berth made for the cycle's pod that is still there, with the daemon stopped: shim
 * processes (spares included) and sockets, runc state dirs, mounts, netns, veths, IPs, nat rules, cgroups, FIFOs, sockets, bundle
 * dirs, CRI dirs, rw snapshots, records and name reservations.
 */
export async function census(b: Berth, ids: Set<string>, sockets: Set<string>): Promise<string[]> {
  const leaks: string[] = [];
  const shims = await until(() => shimsOf(b).length === 0, 'shims to exit', 10_000).then(() => [], () => shimsOf(b));
  if (shims.length > 0) leaks.push(`shim processes ${shims.join(' ')}`);
  // berth's spare servers leave within a second or two of the last pod server of their daemon
  const spares = await until(() => sparesOf(b).length === 0, 'spare shims to exit', 5_000).then(() => [], () => sparesOf(b));
  if (spares.length > 0) leaks.push(`spare shim processes ${spares.join(' ')}`);
  for (const m of readMountInfo()) if (m.mountPoint.startsWith(`${b.dir}/`)) leaks.push(`mount ${m.mountPoint}`);
  const net = await leftovers(b.net.env);
  for (const [what, n] of Object.entries(net)) if (n !== 0) leaks.push(`${n} ${what}`);
  const controllers = ls('/sys/fs/cgroup').map((c) => path.join('/sys/fs/cgroup', c));
  for (const id of ids) {
    for (const ctl of controllers) if (existsSync(path.join(ctl, 'k8s.io', id))) leaks.push(`cgroup ${ctl}/k8s.io/${id}`);
    const socket = shimSocketAddress(b.address, 'k8s.io', id).replace(/^unix:\/\//, '');
    if (existsSync(socket)) leaks.push(`shim socket ${socket} of ${id}`);
    // runc's state dir (both shims' runc root); a leftover makes the next create of the id fail
    if (existsSync(path.join('/run/containerd/runc/k8s.io', id))) leaks.push(`runc state /run/containerd/runc/k8s.io/${id}`);
  }
  walk(b.dir, (p, st) => {
    if (st.isFIFO()) leaks.push(`FIFO ${p}`);
    if (st.isSocket() && !sockets.has(p)) leaks.push(`socket ${p}`);
  });
  const dirs = {
    bundle: path.join(b.dir, 'state/io.containerd.runtime.v2.task/k8s.io'), work: path.join(b.dir, 'root/io.containerd.runtime.v2.task/k8s.io'),
    'container dir': path.join(b.dir, 'root/cri/containers'), 'sandbox dir': path.join(b.dir, 'root/cri/sandboxes'),
    'sandbox state dir': path.join(b.dir, 'state/cri/sandboxes'), 'cri state': path.join(b.dir, 'state/cri'),
  };
  for (const [what, dir] of Object.entries(dirs)) {
    for (const name of ls(dir)) if (what !== 'cri state' || name.startsWith('view-')) leaks.push(`${what} ${path.join(dir, name)}`);
  }
  const store = await openStore(path.join(b.dir, 'root/cri/store'));
  try {
    for (const s of store.sandboxes.list()) leaks.push(`sandbox record ${s.id}`);
    for (const c of store.containers.list()) leaks.push(`container record ${c.id}`);
    for (const [name] of store.sandboxNames.entries()) leaks.push(`sandbox name ${name}`);
    for (const [name] of store.containerNames.entries()) leaks.push(`container name ${name}`);
  } finally {
    await store.close();
  }
  const imageDb = new Level<string, string>(path.join(b.dir, 'root/image-db'), { valueEncoding: 'utf8' });
  await imageDb.open();
  try {
    for await (const key of imageDb.keys()) if (key.includes('rootfs/')) leaks.push(`rw snapshot ${key}`);
  } finally {
    await imageDb.close();
  }
  return leaks;
}

let randomCycles = 0;

/** Runs one cycle on the stopped daemon `b` (nothing in it); leaves it stopped. */
export async function runCycle(b: Berth, cycle: Cycle, sockets: Set<string>): Promise<CycleResult> {
  const t0 = Date.now();
  const logStart = b.daemonLog().length;
  const crashes = { n: 0 };
  const random = /^random:(\d+)$/.exec(cycle.kill);
  await b.start(random ? {} : { env: { BERTH_FAULT: cycle.kill } });
  let timer: NodeJS.Timeout | undefined;
  if (random) timer = setTimeout(() => { void b.kill('SIGKILL'); }, Number(random[1]));
  // Every other pair of random-kill cycles runs kubelet's pid mode CONTAINER, so the pod has no
  // pause process (drop_infra_container, the default): its pinned namespaces and pod shim are cut
  // short too. Fault-point cycles keep the pause, whose steps the points name.
  const pauseless = random !== null && Math.floor(randomCycles++ / 2) % 2 === 1;
  const config = podConfig(b, 'chaos', pauseless ? { linux: { securityContext: { namespaceOptions: { pid: 1 } } } } : {});
  const s: ClientState = { podUid: config.metadata.uid, config, created: new Set(), phase: 'run' };
  const leaks: string[] = [];
  try {
    await survive(b, crashes, async () => {
      if (s.phase === 'run') await syncPod(b, s, cycle);
      if (s.phase === 'teardown') {
        for (const p of await podsOf(b, s)) await removePod(b, s, p.id!);
        await b.cri.image.RemoveImage({ image: { image: cycle.image } }); // the next cycle pulls again
        s.phase = 'done';
      }
    });
  } catch (err) {
    // A broken promise (LeakError) or a call that failed without a crash: both are findings.
    leaks.push(err instanceof LeakError ? err.message : `call failed: ${String(err)}`);
    if (await b.exited(0)) {
      await b.kill('SIGKILL'); // reaps it
      await b.start();
    }
    for (const p of await podsOf(b, s).catch(() => [])) await removePod(b, s, p.id!).catch(() => undefined);
  } finally {
    clearTimeout(timer);
  }
  if (s.created.size > 0) leaks.push(`containers the client created but never saw removed: ${[...s.created].join(' ')}`);
  await b.kill('SIGTERM');
  leaks.push(...await census(b, idsInLog(b.daemonLog().slice(logStart)), sockets));
  return { cycle, crashes: crashes.n, leaks, ms: Date.now() - t0 };
}
