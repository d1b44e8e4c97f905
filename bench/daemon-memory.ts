// Where berth's daemon memory goes (docs/bench.md "Daemon memory"), on berth alone, pause-less
// kubelet-shaped pods through the Go CRI client (bench/kubelet-node.ts), handler runc:
//   idle        PSS of a fresh daemon 3 s after it serves, by mapping: anonymous memory (V8's heap,
//               thread arenas, stacks), malloc's main heap, the node binary's pages (shared with
//               every Node process on the machine, so their PSS share moves with how many run)
//   per pod     the daemon's PSS growth per pod of two `sleep` containers, 2 s after the last start
//   after use   PSS 3 s after READS ListContainers + ContainerStatus calls (kubelet's relist and
//               status polls) on those pods and the pods' removal: what a burst leaves behind
//   --heap      also V8's own figures per pod (heap used, array buffers) after a full GC, read
//               through the inspector in a run of their own (the inspector's memory would
//               blur the PSS rows)
// Run: bench/bench.sh daemon-memory [--pods N] [--reps N] [--reads N] [--heap] (root; ~2 min a rep).
import { readFileSync, readdirSync } from 'node:fs';
import { buildGoCri } from '../test/helpers/go-cri.js';
import { startBerth, type Berth } from '../test/integration/cri-harness.js';
import { daemonPid, kubeletBench, type KubeletBench } from './kubelet-node.js';
import { pssKiB, sleep } from './proc.js';
import { median, p90 } from './stats.js';

type Row = Record<string, number[]>;

/** PSS in KiB by kind of mapping. */
function pssByMapping(pid: number): Record<'anon' | 'malloc' | 'node' | 'other', number> {
  const out = { anon: 0, malloc: 0, node: 0, other: 0 };
  let kind: keyof typeof out = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) kind = m[1] === '' ? 'anon' : m[1] === '[heap]' ? 'malloc' : /\/node$/.test(m[1]!) ? 'node' : 'other';
    else if (line.startsWith('Pss:')) out[kind] += Number(line.split(/\s+/)[1]);
  }
  return out;
}

/** V8's figures through the inspector (Runtime.evaluate) after two full GCs. */
class Inspector {
  #ws: WebSocket | undefined;
  #id = 0;
  readonly #pending = new Map<number, (d: { result?: { result?: { value?: unknown } } }) => void>();

  constructor(readonly port: number) {}

  async open(): Promise<void> {
    const list = await (await fetch(`http://127.0.0.1:${this.port}/json/list`)).json() as Array<{ webSocketDebuggerUrl: string }>;
    const ws = new WebSocket(list[0]!.webSocketDebuggerUrl);
    await new Promise((r) => ws.addEventListener('open', r, { once: true }));
    ws.addEventListener('message', (m) => {
      const d = JSON.parse(String(m.data)) as { id?: number; result?: { result?: { value?: unknown } } };
      if (d.id === undefined) return;
      this.#pending.get(d.id)?.(d);
      this.#pending.delete(d.id);
    });
    this.#ws = ws;
  }

  #call(method: string, params: object = {}): Promise<{ result?: { result?: { value?: unknown } } }> {
    return new Promise((r) => {
      this.#pending.set(++this.#id, r);
      this.#ws!.send(JSON.stringify({ id: this.#id, method, params }));
    });
  }

  /** Heap used and array buffers in KiB, after two full GCs. */
  async heap(): Promise<{ heapUsed: number; arrayBuffers: number }> {
    await this.#call('HeapProfiler.collectGarbage');
    await this.#call('HeapProfiler.collectGarbage');
    const expr = '(() => { const m = process.memoryUsage(); return { heapUsed: m.heapUsed / 1024, arrayBuffers: m.arrayBuffers / 1024 }; })()';
    const r = await this.#call('Runtime.evaluate', { expression: expr, returnByValue: true });
    return r.result!.result!.value as { heapUsed: number; arrayBuffers: number };
  }

  close(): void {
    this.#ws?.close();
  }
}

async function reads(k: KubeletBench, n: number): Promise<void> {
  const ids = (await k.go.runtime.ListContainers({})).containers.map((c) => c.id!);
  for (let i = 0; i < n; i += 2) {
    await k.go.runtime.ListContainers({});
    await k.go.runtime.ContainerStatus({ containerId: ids[i % ids.length]!, verbose: true });
  }
}

async function measure(o: { pods: number; reads: number; heap: boolean }, into: Row): Promise<void> {
  const push = (row: string, v: number) => (into[row] ??= []).push(v);
  const b: Berth = await startBerth({ handler: 'runc', topConfig: ['drop_infra_container = true'] });
  const inspector = o.heap ? new Inspector(19_000 + Math.floor(Math.random() * 1000)) : undefined;
  try {
    if (inspector) {
      await b.kill('SIGTERM');
      await b.start({ env: { NODE_OPTIONS: `--inspect=127.0.0.1:${inspector.port}` } });
      await inspector.open();
    }
    const pid = daemonPid(b);
    await sleep(3_000);
    if (!inspector) {
      const idle = pssByMapping(pid);
      push('idle PSS, fresh daemon', pssKiB(pid));
      for (const [kind, kiB] of Object.entries(idle)) push(`  idle: ${kind}`, kiB);
      push('  threads', readdirSync(`/proc/${pid}/task`).length);
    }
    const k = await kubeletBench(b);
    try {
      await k.run(['warm-a', 'warm-b']); // the code paths of a pod, once
      await k.removeAll();
      await sleep(1_000);
      const before = { pss: pssKiB(pid), fds: readdirSync(`/proc/${pid}/fd`).length, heap: await inspector?.heap() };
      for (let i = 0; i < o.pods; i++) await k.run(['a', 'b']);
      await sleep(2_000);
      const per = (after: number, was: number) => (after - was) / o.pods;
      push('per pod: daemon PSS growth', per(pssKiB(pid), before.pss));
      push('per pod: fds', per(readdirSync(`/proc/${pid}/fd`).length, before.fds));
      if (inspector && before.heap) {
        const h = await inspector.heap();
        push('per pod: V8 heap used (after full GC)', per(h.heapUsed, before.heap.heapUsed));
        push('per pod: array buffers (after full GC)', per(h.arrayBuffers, before.heap.arrayBuffers));
      }
      if (inspector) return;
      await reads(k, o.reads);
      await k.removeAll();
      await sleep(3_000);
      push(`after ${o.reads} reads and the pods' removal: PSS`, pssKiB(pid));
      for (const [kind, kiB] of Object.entries(pssByMapping(pid))) push(`  after: ${kind}`, kiB);
    } finally {
      await k.close();
    }
  } finally {
    inspector?.close();
    await b.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, def: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : def);
  const o = { pods: Number(arg('--pods', '20')), reads: Number(arg('--reads', '6000')), heap: argv.includes('--heap') };
  const reps = Number(arg('--reps', '2'));
  await buildGoCri();
  const rows: Row = {};
  for (let r = 0; r < reps; r++) {
    await measure({ ...o, heap: false }, rows);
    if (o.heap) await measure(o, rows);
  }
  const unit = (row: string) => (row.includes('fds') || row.includes('threads') ? '' : ' KiB');
  process.stdout.write(`berth daemon, handler runc, pause-less pods of 2 sleep containers: ${o.pods} pods x ${reps} reps, median / p90\n\n`);
  process.stdout.write('| figure | median / p90 |\n| --- | --- |\n');
  for (const [row, xs] of Object.entries(rows)) {
    const f = (x: number) => (unit(row) ? x.toFixed(0) : x.toFixed(1));
    process.stdout.write(`| ${row} | ${f(median(xs))} / ${f(p90(xs))}${unit(row)} |\n`);
  }
}

main(process.argv.slice(2)).then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`daemon-memory bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
