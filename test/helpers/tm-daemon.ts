// A tiny test daemon: the task manager + exit monitor in their own process, so a test can
// `kill -9` it and start it again. Like the CRI store, its exit subscriber keeps each exit
// durably, once (a level db under dbDir), and reports only the first of each process's exits. Config is one JSON argument. It reports on stdout as JSON lines
// ({"type":"ready"}, {"type":"reload",...}, {"type":"exit",...}) and takes commands as JSON lines
// on a unix control socket ({"op":"create"|"start"|"kill"|"state"|"delete"|"shutdown", ...}).
// Every task's stdout is appended to <outDir>/<id>.out as it arrives.
import { appendFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Level } from 'level';
import { toStatus } from '../../common/index.js';
import { ExitMonitor, TaskManager, exitKey, type TaskHandle } from '../../taskmanager/index.js';
import { makeOciSpec } from '../fixtures/index.js';

export interface TmDaemonConfig {
  stateDir: string;
  rootDir: string;
  dbDir: string;
  grpcAddress: string;
  ttrpcAddress: string;
  controlSocket: string;
  outDir: string;
  runtime: string;
  runtimePaths: Record<string, string>;
  rootfs: string;
  namespace: string;
}

export type TmCommand =
  | { op: 'create'; id: string; args: string[]; sandbox: string }
  | { op: 'start'; id: string }
  | { op: 'kill'; id: string; signal: number }
  | { op: 'state'; id: string }
  | { op: 'delete'; id: string }
  | { op: 'shutdown' };

const report = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as TmDaemonConfig;
  await mkdir(cfg.dbDir, { recursive: true });
  const db = new Level<string, unknown>(cfg.dbDir, { valueEncoding: 'json' });
  await db.open();
  const close = () => db.close();
  const exits = new ExitMonitor({ retryInitialMs: 100 });
  exits.subscribe('stdout', async (e) => {
    const key = exitKey(e.namespace, e.containerId, e.id);
    if ((await db.get(key)) !== undefined) return; // seen before a restart: handled already
    const stored = { ...e, exitedAt: e.exitedAt.toISOString() };
    await db.put(key, stored);
    report({ type: 'exit', ...stored });
  });
  const tm = await TaskManager.open({
    stateDir: cfg.stateDir, rootDir: cfg.rootDir, grpcAddress: cfg.grpcAddress, ttrpcAddress: cfg.ttrpcAddress,
    runtimes: { runtimePaths: cfg.runtimePaths }, exits,
  });
  const capture = (t: TaskHandle): void => {
    // Synchronous append: what has been read from the FIFO is on disk before the next read.
    t.stdout?.on('data', (d: Buffer) => appendFileSync(path.join(cfg.outDir, `${t.id}.out`), d));
  };
  const outcomes = await tm.reload();
  for (const o of outcomes) if (o.kind === 'reloaded') capture(o.task);
  report({ type: 'reload', outcomes: outcomes.map((o) => ({ kind: o.kind, id: o.id, ...(o.kind === 'dead' ? { exitStatus: o.exit.exitStatus } : {}) })) });

  const ns = cfg.namespace;
  const handle = async (c: TmCommand): Promise<unknown> => {
    switch (c.op) {
      case 'create': {
        const spec = makeOciSpec({ args: c.args, annotations: { 'io.kubernetes.cri.sandbox-id': c.sandbox } });
        const t = await tm.createTask({
          namespace: ns, id: c.id, runtime: cfg.runtime, spec, rootfs: [{ type: 'bind', source: cfg.rootfs, options: ['rbind', 'rw'] }],
        });
        capture(t);
        return { pid: t.pid };
      }
      case 'start': return { pid: await tm.start(ns, c.id) };
      case 'kill': await tm.kill(ns, c.id, c.signal); return {};
      case 'state': return await tm.state(ns, c.id);
      case 'delete': return await tm.delete(ns, c.id);
      case 'shutdown':
        setImmediate(() => void (async () => {
          await tm.close();
          exits.close();
          await close();
          process.exit(0);
        })());
        return {};
    }
  };
  await rm(cfg.controlSocket, { force: true });
  const server = net.createServer((sock) => {
    createInterface({ input: sock }).on('line', (line) => {
      void (async () => {
        try {
          sock.write(`${JSON.stringify({ ok: true, result: await handle(JSON.parse(line) as TmCommand) })}\n`);
        } catch (err) {
          const kind = (err as { kind?: string }).kind ?? 'unknown';
          sock.write(`${JSON.stringify({ ok: false, error: { kind, ...toStatus(err) } })}\n`);
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(cfg.controlSocket, resolve));
  report({ type: 'ready', pid: process.pid });
}

main().catch((err: unknown) => {
  report({ type: 'fatal', error: String(err) });
  process.exit(1);
});
