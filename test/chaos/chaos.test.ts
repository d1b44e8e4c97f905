// Crash safety (docs/crash-safety.md): the daemon is SIGKILLed at every fault point of PullImage,
// RunPodSandbox, CreateContainer, StartContainer, StopPodSandbox, RemoveContainer and
// RemovePodSandbox (and of the task manager under them), and at random moments; after a restart
// the client carries on as kubelet does, and once everything is removed nothing is left (the
// census in chaos-harness.ts). The pods alternate between the real containerd-shim-runc-v2 and
// berth's shim. `npm run chaos -- --cycles N` (scripts/chaos.mjs) runs N cycles (every point
// once, then random kills) and writes the figures to a report.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_POINTS } from '../../common/index.js';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CRI_HANDLERS, startBerth, type Berth } from '../integration/cri-harness.js';
import { daemonSockets, runCycle, type Cycle, type CycleResult } from './chaos-harness.js';

const LONG = Number(process.env.BERTH_CHAOS_CYCLES ?? 0);
/**
 * The short run (`npm test`, ~40 s on an idle VM): the points where a crash leaves something no record knows
 * (a name, a snapshot, a dir, a shim, a cgroup, a network) and one point of each call, then one
 * random kill. The long run takes every point.
 */
const SHORT_POINTS: readonly string[] = [
  'pull:layer-unpacked', 'run-pod:name-reserved', 'run-pod:task-created', 'task:shim-started', 'task:create-sent+40',
  'create-container:rootfs-prepared', 'create-container:dir-made', 'start-container:task-created', 'stop-pod:pause-killed',
  'remove-container:record-deleted', 'remove-pod:network-torn-down', 'remove-pod:record-deleted',
];
const SHORT_RANDOM = 1;

let reg: TestRegistry;
let b: Berth;
let layouts: string;
let image: string;
let sockets: Set<string>;

beforeAll(async () => {
  layouts = await mkdtemp(path.join(os.tmpdir(), 'berth-chaos-'));
  reg = await startRegistry();
  const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'chaos', content: 'chaos\n' }])]);
  await writeLayout(path.join(layouts, 'img'), 'v1', img);
  await reg.push(path.join(layouts, 'img'), 'v1', 'chaos/busybox');
  image = `${reg.host}/chaos/busybox:v1`;
  b = await startBerth();
  await b.kill('SIGTERM');
  sockets = daemonSockets(b); // the daemon's own sockets, left by a stopped daemon
}, 120_000);

afterAll(async () => {
  await b?.stop();
  await reg?.stop();
  if (layouts) await rm(layouts, { recursive: true, force: true });
}, 120_000);

/**
 * Cycle i: the fault points in order, then random kills within the first 1.5 s after the daemon
 * serves (a cycle's calls take 1-1.5 s here, so most kills land in one of them).
 */
function cycleAt(i: number): Cycle {
  const handler = CRI_HANDLERS[i % CRI_HANDLERS.length]!;
  const kill = i < FAULT_POINTS.length ? FAULT_POINTS[i]! : `random:${Math.floor(Math.random() * 1_500)}`;
  return { kill, handler, image };
}

const describeLong = LONG > 0 ? describe : describe.skip;
const describeShort = LONG > 0 ? describe.skip : describe;

describeShort('kill -9 at every fault point, then a restart', () => {
  it.each(SHORT_POINTS.map((p, j) => [p, j] as const))('%s: the call completes after the restart and nothing leaks', async (point, j) => {
    const r = await runCycle(b, { kill: point, handler: CRI_HANDLERS[j % CRI_HANDLERS.length]!, image }, sockets);
    expect(r.leaks).toEqual([]);
    expect(r.crashes).toBe(1); // the point was reached
  }, 60_000);

  it.each([...Array(SHORT_RANDOM).keys()])('random kill %i: nothing leaks', async (n) => {
    const r = await runCycle(b, cycleAt(FAULT_POINTS.length + n), sockets);
    expect(r.leaks).toEqual([]);
  }, 60_000);
});

describeLong('chaos: long run', () => {
  it(`${LONG} cycles leak nothing`, async () => {
    const results: CycleResult[] = [];
    for (let i = 0; i < LONG; i++) {
      const r = await runCycle(b, cycleAt(i), sockets);
      results.push(r);
      console.log(`cycle ${i + 1}/${LONG} ${r.cycle.handler} ${r.cycle.kill}: ${r.crashes} crash(es), ${r.leaks.length} leak(s) ${r.ms} ms${r.leaks.length ? `\n  ${r.leaks.join('\n  ')}` : ''}`);
    }
    const summary = {
      cycles: results.length, crashes: results.reduce((n, r) => n + r.crashes, 0),
      cyclesWithLeaks: results.filter((r) => r.leaks.length > 0).length, leaks: results.flatMap((r) => r.leaks),
      unreachedPoints: results.filter((r) => !r.cycle.kill.startsWith('random:') && r.crashes === 0).map((r) => r.cycle.kill),
      seconds: Math.round(results.reduce((n, r) => n + r.ms, 0) / 1000),
    };
    console.log(JSON.stringify(summary, null, 2));
    if (process.env.BERTH_CHAOS_REPORT) await writeFile(process.env.BERTH_CHAOS_REPORT, `${JSON.stringify({ summary, results }, null, 2)}\n`);
    expect(summary.leaks).toEqual([]);
    expect(summary.unreachedPoints).toEqual([]);
  }, 24 * 3600_000);
});
