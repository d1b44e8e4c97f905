#!/usr/bin/env node
// berthctl: the CLI for people, speaking CRI to the berth socket: pods, ps, images, pull (with
// progress), rmi, inspect, logs (-f), stop, rm, exec/attach/port-forward (WebSocket clients of the
// streaming URLs), shims (per-pod shim overhead from /proc), play (a Kubernetes Pod manifest run
// through the CRI) and `demo` (the quickstart pod). crictl works against berth too.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Command } from 'commander';
import { toStatus } from '../common/index.js';
import { createCriClients, runtime, type CriClients } from '../proto/cri.js';
import WebSocket from 'ws';
import { followLog, humanBytes, printLog, shimsTable, withPullProgress } from './berthctl-views.js';

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

// Streaming clients: the URL from Exec/Attach/PortForward, spoken over WebSocket
// (v5/v4.channel.k8s.io: one channel byte, then data; 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize).
const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Runs an exec/attach session on this terminal; resolves with the exit code to leave with. */
function stdioSession(url: string, o: { stdin: boolean; tty: boolean }): Promise<number> {
  const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  const send = (ch: number, data: Buffer | string = Buffer.alloc(0)) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(data)]));
  };
  const raw = o.tty && o.stdin && process.stdin.isTTY;
  const resize = () => send(CH.resize, JSON.stringify({ Width: process.stdout.columns, Height: process.stdout.rows }));
  let status = '';
  return new Promise((resolve, reject) => {
    ws.on('open', () => {
      if (o.tty && process.stdout.isTTY) {
        resize();
        process.on('SIGWINCH', resize);
      }
      if (!o.stdin) return;
      if (raw) process.stdin.setRawMode(true);
      process.stdin.on('data', (d: Buffer) => send(CH.stdin, d));
      process.stdin.on('end', () => { if (ws.protocol === 'v5.channel.k8s.io') send(CH.close, Buffer.from([CH.stdin])); });
    });
    ws.on('message', (m: Buffer) => {
      const data = m.subarray(1);
      if (m[0] === CH.stdout) process.stdout.write(data);
      else if (m[0] === CH.stderr) process.stderr.write(data);
      else if (m[0] === CH.error) status += data.toString();
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`streaming server answered ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', () => {
      if (raw) process.stdin.setRawMode(false);
      process.stdin.pause();
      process.off('SIGWINCH', resize);
      if (status === '') { resolve(0); return; }
      const s = JSON.parse(status) as { status?: string; message?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } };
      if (s.status === 'Success') { resolve(0); return; }
      const code = s.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
      if (code !== undefined) { resolve(Number(code)); return; }
      process.stderr.write(`berthctl: ${s.message ?? status}\n`);
      resolve(1);
    });
  });
}

/** One local TCP connection forwarded over its own PortForward URL (v4.channel.k8s.io, channels 0/1). */
function forwardConnection(c: CriClients, pod: string, remote: number, sock: net.Socket): void {
  void c.runtime.PortForward({ podSandboxId: pod, port: [remote] }).then(({ url }) => {
    const ws = new WebSocket(url, ['v4.channel.k8s.io']);
    const seen = new Set<number>(); // each channel's first message is the port number
    ws.on('open', () => {
      sock.on('data', (d: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), d])));
      sock.on('end', () => ws.close());
      sock.resume();
    });
    ws.on('message', (m: Buffer) => {
      const ch = m[0]!;
      if (!seen.has(ch)) { seen.add(ch); return; }
      if (ch === 0) sock.write(m.subarray(1));
      else process.stderr.write(`berthctl: ${m.subarray(1).toString()}\n`);
    });
    ws.on('close', () => sock.end());
    ws.on('error', (err) => { process.stderr.write(`berthctl: ${err.message}\n`); sock.destroy(); });
    sock.on('error', () => ws.terminate());
  }, (err: unknown) => {
    process.stderr.write(`berthctl: ${toStatus(err).message}\n`);
    sock.destroy();
  });
}

/** Listens on 127.0.0.1:<local> for each `<local>:<remote>` (local 0 = any free port) until killed. */
async function portForward(c: CriClients, pod: string, specs: string[]): Promise<void> {
  for (const spec of specs) {
    const m = /^(\d*):(\d+)$/.exec(spec) ?? /^()(\d+)$/.exec(spec);
    if (!m) throw new Error(`bad port spec ${JSON.stringify(spec)}: want <local>:<remote>`);
    const remote = Number(m[2]);
    const local = m[1] === '' ? remote : Number(m[1]);
    const server = net.createServer({ pauseOnConnect: true }, (sock) => forwardConnection(c, pod, remote, sock));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(local, '127.0.0.1', resolve); });
    process.stdout.write(`Forwarding from 127.0.0.1:${(server.address() as net.AddressInfo).port} -> ${remote}\n`);
  }
  await new Promise(() => undefined); // until SIGINT/SIGTERM
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
    .option('-f, --follow', 'keep printing until the container exits')
    .action((id: string, o: { timestamps?: boolean; follow?: boolean }) => withClient(address(), async (c) => {
      const s = (await c.runtime.ContainerStatus({ containerId: id })).status!;
      if (!s.logPath) throw new Error(`container ${id} has no log path`);
      if (!o.follow) {
        printLog(path.resolve(s.logPath), o.timestamps === true);
        return;
      }
      await followLog(path.resolve(s.logPath), o.timestamps === true, async () => {
        const now = (await c.runtime.ContainerStatus({ containerId: id })).status!;
        return now.state !== v1.ContainerState.CONTAINER_RUNNING && now.state !== v1.ContainerState.CONTAINER_CREATED;
      });
    }));
  program.command('images').description('list images').option('-q, --quiet', 'only image ids')
    .action((o: { quiet?: boolean }) => withClient(address(), async (c) => {
      const { images } = await c.image.ListImages({});
      if (o.quiet) {
        for (const i of images) process.stdout.write(`${i.id}\n`);
        return;
      }
      const rows = images.flatMap((i) => {
        const tags = i.repoTags?.length ? i.repoTags : ['<none>:<none>'];
        return tags.map((t) => {
          const at = t.lastIndexOf(':');
          const digest = i.repoDigests?.[0]?.split('@')[1] ?? '<none>';
          return [t.slice(0, at), t.slice(at + 1), digest.slice(0, 19), (i.id ?? '').replace(/^sha256:/, '').slice(0, 13), humanBytes(Number(i.size ?? 0))];
        });
      });
      table([['IMAGE', 'TAG', 'DIGEST', 'IMAGE ID', 'SIZE'], ...rows]);
    }));
  program.command('pull <image>').description('pull an image (progress from the daemon\'s content ingest directory)')
    .option('--root <dir>', "the daemon's --root (where its content store is)", '/var/lib/berth')
    .action((ref: string, o: { root: string }) => withClient(address(), async (c) => {
      const t0 = Date.now();
      const { imageRef } = await withPullProgress(o.root, process.stderr.isTTY === true, () => c.image.PullImage({ image: { image: ref } }));
      const st = await c.image.ImageStatus({ image: { image: imageRef } });
      process.stdout.write(`${ref}: ${imageRef} (${humanBytes(Number(st.image?.size ?? 0))}) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }));
  program.command('rmi <images...>').description('remove images').action((refs: string[]) => withClient(address(), async (c) => {
    for (const ref of refs) {
      // RemoveImage is idempotent in the CRI; a person wants to hear about a typo (as crictl rmi).
      if (!(await c.image.ImageStatus({ image: { image: ref } })).image) throw new Error(`no such image ${ref}`);
      await c.image.RemoveImage({ image: { image: ref } });
      process.stdout.write(`${ref}\n`);
    }
  }));
  program.command('inspect <id>').description('verbose status of a pod, container or image, as JSON')
    .action((id: string) => withClient(address(), async (c) => {
      const parse = (info: Record<string, string> | null | undefined) => Object.fromEntries(Object.entries(info ?? {}).map(([k, v]) => {
        try {
          return [k, JSON.parse(v) as unknown];
        } catch {
          return [k, v];
        }
      }));
      const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);
      const pods = (await c.runtime.ListPodSandbox({})).items.filter((p) => p.id?.startsWith(id));
      const ctrs = (await c.runtime.ListContainers({})).containers.filter((x) => x.id?.startsWith(id));
      if (pods.length + ctrs.length > 1) throw new Error(`${id} names more than one pod or container`);
      if (pods[0]) {
        const r = await c.runtime.PodSandboxStatus({ podSandboxId: pods[0].id, verbose: true });
        return print({ status: r.status, info: parse(r.info) });
      }
      if (ctrs[0]) {
        const r = await c.runtime.ContainerStatus({ containerId: ctrs[0].id, verbose: true });
        return print({ status: r.status, info: parse(r.info) });
      }
      const r = await c.image.ImageStatus({ image: { image: id }, verbose: true });
      if (!r.image) throw new Error(`no pod, container or image ${id}`);
      return print({ status: r.image, info: parse(r.info) });
    }));
  program.command('shims').description('per pod: its shim process, containers and memory (PSS from /proc)')
    .action(() => withClient(address(), async (c) => {
      const pods = (await c.runtime.ListPodSandbox({})).items;
      const withPid = await Promise.all(pods.map(async (p) => {
        const r = await c.runtime.PodSandboxStatus({ podSandboxId: p.id, verbose: true });
        const info = JSON.parse(r.info?.info ?? '{}') as { pid?: number };
        const containers = (await c.runtime.ListContainers({ filter: { podSandboxId: p.id } })).containers;
        return { pod: p, pid: info.pid ?? 0, containers: containers.filter((x) => x.state === v1.ContainerState.CONTAINER_RUNNING).length };
      }));
      shimsTable(withPid.map((x) => ({ id: short(x.pod.id), name: x.pod.metadata?.name ?? '', runtime: x.pod.runtimeHandler ?? '', pausePid: x.pid, containers: x.containers })));
    }));
  program.command('play <manifest>').description('run the Pods of a Kubernetes manifest (YAML; - for stdin) through the CRI')
    .option('--down', 'stop and remove the pods the manifest names instead')
    .option('--log-dir <dir>', 'pod log root', '/var/log/pods')
    .option('--volume-dir <dir>', 'where emptyDir volumes are made', '/var/lib/berthctl/pods')
    .option('--init-timeout <s>', 'seconds an init container may run', '300')
    .action((file: string, o: { down?: boolean; logDir: string; volumeDir: string; initTimeout: string }) => withClient(address(), async (c) => {
      const { loadPods, planPods, playPod, findPods, removePod } = await import('./play.js');
      const pods = await loadPods(readFileSync(file === '-' ? 0 : file, 'utf8'));
      const opts = { logRoot: path.resolve(o.logDir), volumeRoot: path.resolve(o.volumeDir) };
      const plans = await planPods(pods, opts);
      if (o.down) {
        for (const plan of plans) {
          const found = await findPods(c, plan.namespace, plan.name);
          for (const p of found) await removePod(c, p, opts.volumeRoot);
          process.stdout.write(`${plan.namespace}/${plan.name}: ${found.length === 0 ? 'not found' : `removed ${found.map((p) => short(p.id)).join(' ')}`}\n`);
        }
        return;
      }
      const rows = [['POD', 'POD ID', 'CONTAINER', 'CONTAINER ID', 'INIT']];
      for (const [i, plan] of plans.entries()) {
        const played = await playPod(c, pods[i]!, plan, { ...opts, initTimeoutMs: Number(o.initTimeout) * 1000, print: (l) => process.stderr.write(`${l}\n`) });
        for (const x of played.containers) rows.push([`${plan.namespace}/${plan.name}`, short(played.podSandboxId), x.name, short(x.id), x.init ? 'yes' : '']);
      }
      table(rows);
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
  program.command('exec <container> <cmd...>').description('run a command in a running container (berthctl exec -it <id> -- sh)')
    .option('-i, --stdin', 'pass stdin to the command').option('-t, --tty', 'allocate a terminal')
    .action((id: string, cmd: string[], o: { stdin?: boolean; tty?: boolean }) => withClient(address(), async (c) => {
      const tty = o.tty === true;
      const { url } = await c.runtime.Exec({ containerId: id, cmd, tty, stdin: o.stdin === true, stdout: true, stderr: !tty });
      process.exitCode = await stdioSession(url, { stdin: o.stdin === true, tty });
    }));
  program.command('attach <container>').description("join a running container's stdio (Ctrl-C detaches)")
    .option('-i, --stdin', "pass stdin to the container (created with stdin)").option('-t, --tty', 'the container has a terminal')
    .action((id: string, o: { stdin?: boolean; tty?: boolean }) => withClient(address(), async (c) => {
      const tty = o.tty === true;
      const { url } = await c.runtime.Attach({ containerId: id, tty, stdin: o.stdin === true, stdout: true, stderr: !tty });
      process.exitCode = await stdioSession(url, { stdin: o.stdin === true, tty });
    }));
  program.command('port-forward <pod> <ports...>').description('forward 127.0.0.1:<local> to <remote> inside the pod (0:<remote> = any local port)')
    .action((pod: string, ports: string[]) => withClient(address(), (c) => portForward(c, pod, ports)));
  program.command('demo').description('run the quickstart pod (busybox built on this machine) and print its log')
    .option('--log-dir <dir>', 'pod log root', '/var/log/pods')
    .action((o: { logDir: string }) => withClient(address(), (c) => demo(c, o.logDir)));
  await program.parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`berthctl: ${toStatus(err).message}\n`);
  process.exit(1);
});
