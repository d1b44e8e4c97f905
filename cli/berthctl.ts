#!/usr/bin/env node
// berthctl: a minimal CLI for people, speaking CRI to the berth socket. pods, ps, logs, stop, rm,
// and `demo` (the quickstart pod). The full CLI comes later; crictl works against berth too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { toStatus } from '../common/index.js';
import { createCriClients, runtime, type CriClients } from '../proto/cri.js';

const v1 = runtime.v1;
const DEFAULT_ADDRESS = process.env.BERTH_ADDRESS ?? '/run/berth/berth.sock';
const DEMO_IMAGE = 'berth.local/busybox:latest';

const short = (id: string | null | undefined) => (id ?? '').slice(0, 13);
const podState = (n: number | null | undefined) => v1.PodSandboxState[n ?? 0] ?? '';
const ctrState = (n: number | null | undefined) => (v1.ContainerState[n ?? 3] ?? '').replace('CONTAINER_', '');
const ago = (ns: unknown) => {
  const s = Math.max(0, Math.round((Date.now() - Number(BigInt(String(ns)) / 1_000_000n)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};
const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()}\n`);
};

async function withClient<T>(address: string, fn: (c: CriClients) => Promise<T>): Promise<T> {
  const c = createCriClients(address, { timeoutMs: 120_000 });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Prints a CRI log file's content (without the timestamp/stream/tag prefix unless asked). */
function printLog(file: string, timestamps: boolean): void {
  const text = readFileSync(file, 'utf8');
  let partial = '';
  for (const line of text.split('\n')) {
    const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/.exec(line);
    if (!m) continue;
    partial += m[4];
    if (m[3] === 'P') continue;
    const out = m[2] === 'stderr' ? process.stderr : process.stdout;
    out.write(timestamps ? `${m[1]} ${partial}\n` : `${partial}\n`);
    partial = '';
  }
  if (partial !== '') process.stdout.write(`${partial}\n`);
}

async function demo(c: CriClients, logRoot: string): Promise<void> {
  await c.image.PullImage({ image: { image: DEMO_IMAGE } });
  const uid = `demo-${Date.now()}`;
  const config = { metadata: { name: 'berth-demo', namespace: 'default', uid }, logDirectory: path.join(logRoot, `default_berth-demo_${uid}`), hostname: 'berth-demo' };
  const { podSandboxId } = await c.runtime.RunPodSandbox({ config });
  const { containerId } = await c.runtime.CreateContainer({
    podSandboxId, sandboxConfig: config,
    config: {
      metadata: { name: 'hello' }, image: { image: DEMO_IMAGE }, logPath: 'hello/0.log',
      command: ['/bin/sh', '-c', 'echo "hello from berth: $(hostname), pid $$, $(uname -sr)"; for i in 1 2 3; do echo "tick $i"; sleep 0.2; done'],
    },
  });
  await c.runtime.StartContainer({ containerId });
  for (let i = 0; i < 100; i++) {
    const s = (await c.runtime.ContainerStatus({ containerId })).status!;
    if (s.state === v1.ContainerState.CONTAINER_EXITED) {
      process.stdout.write(`pod ${short(podSandboxId)}, container ${short(containerId)} exited ${s.exitCode} (${s.reason}); its log:\n`);
      printLog(s.logPath ?? '', false);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`demo container ${containerId} did not finish`);
}

async function main(): Promise<void> {
  const program = new Command('berthctl').description('talk to the berth CRI daemon')
    .option('--address <path>', 'berth socket (env BERTH_ADDRESS)', DEFAULT_ADDRESS);
  const address = () => program.opts<{ address: string }>().address;

  program.command('pods').description('list pod sandboxes').action(() => withClient(address(), async (c) => {
    const { items } = await c.runtime.ListPodSandbox({});
    table([['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'RUNTIME'],
      ...items.map((p) => [short(p.id), ago(p.createdAt), podState(p.state), p.metadata?.name ?? '', p.metadata?.namespace ?? '', p.runtimeHandler ?? ''])]);
  }));
  program.command('ps').description('list containers').option('-a, --all', 'include exited containers').action((o: { all?: boolean }) => withClient(address(), async (c) => {
    const { containers } = await c.runtime.ListContainers(o.all ? {} : { filter: { state: { state: v1.ContainerState.CONTAINER_RUNNING } } });
    table([['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'POD ID'],
      ...containers.map((x) => [short(x.id), x.image?.image ?? '', ago(x.createdAt), ctrState(x.state), x.metadata?.name ?? '', short(x.podSandboxId)])]);
  }));
  program.command('logs <container>').description("print a container's log").option('-t, --timestamps', 'show timestamps')
    .action((id: string, o: { timestamps?: boolean }) => withClient(address(), async (c) => {
      const s = (await c.runtime.ContainerStatus({ containerId: id })).status!;
      if (!s.logPath) throw new Error(`container ${id} has no log path`);
      printLog(path.resolve(s.logPath), o.timestamps === true);
    }));
  program.command('stop <ids...>').description('stop containers or pods').option('--timeout <s>', 'seconds before SIGKILL', '10')
    .action((ids: string[], o: { timeout: string }) => withClient(address(), async (c) => {
      for (const id of ids) {
        const asPod = await c.runtime.ListPodSandbox({ filter: { id } });
        if (asPod.items.length > 0) await c.runtime.StopPodSandbox({ podSandboxId: id });
        else await c.runtime.StopContainer({ containerId: id, timeout: Number(o.timeout) });
        process.stdout.write(`${id}\n`);
      }
    }));
  program.command('rm <ids...>').description('remove containers or (stopped) pods').action((ids: string[]) => withClient(address(), async (c) => {
    for (const id of ids) {
      const asPod = await c.runtime.ListPodSandbox({ filter: { id } });
      if (asPod.items.length > 0) await c.runtime.RemovePodSandbox({ podSandboxId: id });
      else await c.runtime.RemoveContainer({ containerId: id });
      process.stdout.write(`${id}\n`);
    }
  }));
  program.command('demo').description('run the quickstart pod (busybox built on this machine) and print its log')
    .option('--log-dir <dir>', 'pod log root', '/var/log/pods')
    .action((o: { logDir: string }) => withClient(address(), (c) => demo(c, o.logDir)));
  await program.parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`berthctl: ${toStatus(err).message}\n`);
  process.exit(1);
});
