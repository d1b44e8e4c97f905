// berthctl's commands, built as one commander program (cli/berthctl.ts runs it; test/docs.test.ts
// reads its commands and options to check docs/berthctl.md). Each command opens a CRI client on
// `--address`, makes its calls and closes it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { createCriClients, runtime, type CriClients } from '../proto/cri.js';
import { outputOption, printData, printListing, table, type OutputFormat } from './berthctl-output.js';
import { containerStatsView, followEvents, infoView, parseInfo, podStatsView, short, versionView } from './berthctl-status.js';
import { portForward, stdioSession } from './berthctl-streams.js';
import { followLog, humanBytes, podShims, printLog, shimsTable, withPullProgress } from './berthctl-views.js';

const v1 = runtime.v1;
const DEFAULT_ADDRESS = '/run/berth/berth.sock';
const DEMO_IMAGE = 'berth.local/busybox:latest';

const podState = (n: number | null | undefined) => v1.PodSandboxState[n ?? 0] ?? '';
const ctrState = (n: number | null | undefined) => (v1.ContainerState[n ?? 3] ?? '').replace('CONTAINER_', '');
const ago = (ns: unknown) => {
  const s = Math.max(0, Math.round((Date.now() - Number(BigInt(String(ns)) / 1_000_000n)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
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

type Run = <T>(fn: (c: CriClients) => Promise<T>) => Promise<T>;
interface Out { output: OutputFormat }

/** pods, ps, images, shims, inspect: what is there. */
function listCommands(program: Command, run: Run): void {
  program.command('pods').description('list pod sandboxes').addOption(outputOption())
    .action((o: Out) => run(async (c) => {
      const reply = await c.runtime.ListPodSandbox({});
      await printListing(o.output, reply, () => [['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'RUNTIME'],
        ...reply.items.map((p) => [short(p.id), ago(p.createdAt), podState(p.state), p.metadata?.name ?? '', p.metadata?.namespace ?? '', p.runtimeHandler ?? ''])]);
    }));
  program.command('ps').description('list containers').option('-a, --all', 'include exited containers').addOption(outputOption())
    .action((o: Out & { all?: boolean }) => run(async (c) => {
      const reply = await c.runtime.ListContainers(o.all ? {} : { filter: { state: { state: v1.ContainerState.CONTAINER_RUNNING } } });
      await printListing(o.output, reply, () => [['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'POD ID'],
        ...reply.containers.map((x) => [short(x.id), x.image?.image ?? '', ago(x.createdAt), ctrState(x.state), x.metadata?.name ?? '', short(x.podSandboxId)])]);
    }));
  program.command('images').description('list images').option('-q, --quiet', 'only image ids').addOption(outputOption())
    .action((o: Out & { quiet?: boolean }) => run(async (c) => {
      const reply = await c.image.ListImages({});
      if (o.quiet) {
        for (const i of reply.images) process.stdout.write(`${i.id}\n`);
        return;
      }
      await printListing(o.output, reply, () => [['IMAGE', 'TAG', 'DIGEST', 'IMAGE ID', 'SIZE'], ...reply.images.flatMap((i) => {
        const tags = i.repoTags?.length ? i.repoTags : ['<none>:<none>'];
        return tags.map((t) => {
          const at = t.lastIndexOf(':');
          const digest = i.repoDigests?.[0]?.split('@')[1] ?? '<none>';
          return [t.slice(0, at), t.slice(at + 1), digest.slice(0, 19), (i.id ?? '').replace(/^sha256:/, '').slice(0, 13), humanBytes(Number(i.size ?? 0))];
        });
      })]);
    }));
  program.command('shims').description('per pod: its shim process, containers and memory (PSS from /proc)').addOption(outputOption())
    .action((o: Out) => run(async (c) => {
      const pods = (await c.runtime.ListPodSandbox({})).items;
      const withPid = await Promise.all(pods.map(async (p) => {
        const r = await c.runtime.PodSandboxStatus({ podSandboxId: p.id, verbose: true });
        const info = JSON.parse(r.info?.info ?? '{}') as { pid?: number };
        const containers = (await c.runtime.ListContainers({ filter: { podSandboxId: p.id } })).containers;
        return { id: p.id ?? '', name: p.metadata?.name ?? '', runtime: p.runtimeHandler ?? '', pausePid: info.pid ?? 0,
          containers: containers.filter((x) => x.state === v1.ContainerState.CONTAINER_RUNNING).length };
      }));
      const shims = podShims(withPid);
      if (o.output === 'table') shimsTable(shims, short);
      else await printData(o.output, { shims });
    }));
  program.command('inspect <id>').description('verbose status of a pod, container or image (JSON, or YAML)')
    .addOption(outputOption(['json', 'yaml']))
    .action((id: string, o: { output: 'json' | 'yaml' }) => run(async (c) => {
      const print = (status: unknown, info: Record<string, string> | null | undefined) => printData(o.output, { status, info: parseInfo(info) });
      const pods = (await c.runtime.ListPodSandbox({})).items.filter((p) => p.id?.startsWith(id));
      const ctrs = (await c.runtime.ListContainers({})).containers.filter((x) => x.id?.startsWith(id));
      if (pods.length + ctrs.length > 1) throw new Error(`${id} names more than one pod or container`);
      if (pods[0]) {
        const r = await c.runtime.PodSandboxStatus({ podSandboxId: pods[0].id, verbose: true });
        return print(r.status, r.info);
      }
      if (ctrs[0]) {
        const r = await c.runtime.ContainerStatus({ containerId: ctrs[0].id, verbose: true });
        return print(r.status, r.info);
      }
      const r = await c.image.ImageStatus({ image: { image: id }, verbose: true });
      if (!r.image) throw new Error(`no pod, container or image ${id}`);
      return print(r.image, r.info);
    }));
}

/** pull and rmi. */
function imageCommands(program: Command, run: Run): void {
  program.command('pull <image>').description('pull an image (progress from the daemon\'s content ingest directory)')
    .option('--root <dir>', "the daemon's --root (where its content store is)", '/var/lib/berth')
    .action((ref: string, o: { root: string }) => run(async (c) => {
      const t0 = Date.now();
      // The image layer says where its ingest files are; loaded for pull only.
      const { imageRootOf, ingestDirOf } = await import('../image/index.js');
      const ingest = ingestDirOf(imageRootOf(path.resolve(o.root)));
      const { imageRef } = await withPullProgress(ingest, process.stderr.isTTY === true, () => c.image.PullImage({ image: { image: ref } }));
      const st = await c.image.ImageStatus({ image: { image: imageRef } });
      process.stdout.write(`${ref}: ${imageRef} (${humanBytes(Number(st.image?.size ?? 0))}) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }));
  program.command('rmi <images...>').description('remove images').action((refs: string[]) => run(async (c) => {
    for (const ref of refs) {
      // RemoveImage is idempotent in the CRI; a person wants to hear about a typo (as crictl rmi).
      if (!(await c.image.ImageStatus({ image: { image: ref } })).image) throw new Error(`no such image ${ref}`);
      await c.image.RemoveImage({ image: { image: ref } });
      process.stdout.write(`${ref}\n`);
    }
  }));
}

/** import and export: image archives through the daemon's admin socket (docs/images.md). */
function archiveCommands(program: Command, address: () => string): void {
  const adminSocket = async () => (await import('../cri/index.js')).adminAddressOf(address());
  program.command('import <tarball>').description('import the images of an OCI layout or docker-archive tar (- for stdin), as ctr images import')
    .option('--base-name <repo>', 'names images the archive gives only a tag (<repo>:<tag>)')
    .action((file: string, o: { baseName?: string }) => withAdmin(async () => {
      const { importArchive } = await import('./berthctl-admin.js');
      for (const i of await importArchive(await adminSocket(), file, o.baseName)) {
        process.stdout.write(`${i.repoTags.length > 0 ? i.repoTags.join(' ') : '<none>'}: ${i.id} (${humanBytes(i.size)})\n`);
      }
    }));
  program.command('export <image> <tarball>').description('write an image as an OCI layout tar (- for stdout), as ctr images export')
    .action((ref: string, file: string) => withAdmin(async () => {
      const { exportArchive } = await import('./berthctl-admin.js');
      await exportArchive(await adminSocket(), ref, file);
      if (file !== '-') process.stdout.write(`${ref}: ${file}\n`);
    }));
}

/** Runs an admin call; a socket that refuses says why in a person's words. */
async function withAdmin(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new Error('the admin socket is root\'s only: run berthctl import/export as root', { cause: err });
    if (code === 'ENOENT' || code === 'ECONNREFUSED') throw new Error('no berth daemon serves the admin socket beside --address', { cause: err });
    throw err;
  }
}

/** logs, play, stop, rm, demo: running and ending pods and containers. */
function lifecycleCommands(program: Command, run: Run): void {
  program.command('logs <container>').description("print a container's log").option('-t, --timestamps', 'show timestamps')
    .option('-f, --follow', 'keep printing until the container exits')
    .action((id: string, o: { timestamps?: boolean; follow?: boolean }) => run(async (c) => {
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
  program.command('play <manifest>').description('run the Pods of a Kubernetes manifest (YAML; - for stdin) through the CRI')
    .option('--down', 'stop and remove the pods the manifest names instead')
    .option('--log-dir <dir>', 'pod log root', '/var/log/pods')
    .option('--volume-dir <dir>', 'where emptyDir volumes are made', '/var/lib/berthctl/pods')
    .option('--init-timeout <s>', 'seconds an init container may run', '300')
    .action((file: string, o: { down?: boolean; logDir: string; volumeDir: string; initTimeout: string }) => run(async (c) => {
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
    .action((ids: string[], o: { timeout: string }) => run(async (c) => {
      for (const id of ids) {
        const asPod = await c.runtime.ListPodSandbox({ filter: { id } });
        if (asPod.items.length > 0) await c.runtime.StopPodSandbox({ podSandboxId: id });
        else await c.runtime.StopContainer({ containerId: id, timeout: Number(o.timeout) });
        process.stdout.write(`${id}\n`);
      }
    }));
  program.command('rm <ids...>').description('remove containers or (stopped) pods').action((ids: string[]) => run(async (c) => {
    for (const id of ids) {
      const asPod = await c.runtime.ListPodSandbox({ filter: { id } });
      if (asPod.items.length > 0) await c.runtime.RemovePodSandbox({ podSandboxId: id });
      else await c.runtime.RemoveContainer({ containerId: id });
      process.stdout.write(`${id}\n`);
    }
  }));
  program.command('demo').description('run the quickstart pod (busybox built on this machine) and print its log')
    .option('--log-dir <dir>', 'pod log root', '/var/log/pods')
    .action((o: { logDir: string }) => run((c) => demo(c, o.logDir)));
}

/** exec, attach, port-forward: the streaming clients. */
function streamCommands(program: Command, run: Run): void {
  program.command('exec <container> <cmd...>').description('run a command in a running container (berthctl exec -it <id> -- sh)')
    .option('-i, --stdin', 'pass stdin to the command').option('-t, --tty', 'allocate a terminal')
    .action((id: string, cmd: string[], o: { stdin?: boolean; tty?: boolean }) => run(async (c) => {
      const tty = o.tty === true;
      const { url } = await c.runtime.Exec({ containerId: id, cmd, tty, stdin: o.stdin === true, stdout: true, stderr: !tty });
      process.exitCode = await stdioSession(url, { stdin: o.stdin === true, tty });
    }));
  program.command('attach <container>').description("join a running container's stdio (Ctrl-C detaches)")
    .option('-i, --stdin', 'pass stdin to the container (created with stdin)').option('-t, --tty', 'the container has a terminal')
    .action((id: string, o: { stdin?: boolean; tty?: boolean }) => run(async (c) => {
      const tty = o.tty === true;
      const { url } = await c.runtime.Attach({ containerId: id, tty, stdin: o.stdin === true, stdout: true, stderr: !tty });
      process.exitCode = await stdioSession(url, { stdin: o.stdin === true, tty });
    }));
  program.command('port-forward <pod> <ports...>').description('forward 127.0.0.1:<local> to <remote> inside the pod (0:<remote> = any local port)')
    .action((pod: string, ports: string[]) => run((c) => portForward(c, pod, ports)));
}

/** events, stats, version, info: the runtime as a whole. */
function runtimeCommands(program: Command, run: Run): void {
  program.command('events').description('print container and pod events as they happen (GetContainerEvents), one a line, until interrupted')
    .addOption(new Option('-o, --output <format>', 'output format: text, json').choices(['text', 'json']).default('text'))
    .action((o: { output: 'text' | 'json' }) => run((c) => followEvents(c, o.output)));
  program.command('stats').description('CPU, memory and disk of running containers (ListContainerStats), or of pods')
    .option('-p, --pods', 'pod stats (ListPodSandboxStats) instead')
    .option('-a, --all', 'include exited containers / pods that are not ready')
    .option('-s, --seconds <s>', 'seconds between the two samples CPU % is computed from (0: no CPU %)', '1')
    .addOption(outputOption())
    .action((o: Out & { pods?: boolean; all?: boolean; seconds: string }) => run(async (c) => {
      const seconds = Number(o.seconds);
      if (!(seconds >= 0)) throw new Error(`--seconds must be a number >= 0, got ${JSON.stringify(o.seconds)}`);
      const opts = { all: o.all === true, seconds, format: o.output };
      await (o.pods ? podStatsView(c, opts) : containerStatsView(c, opts));
    }));
  program.command('version').description("berthctl's version and the runtime's (Version)").addOption(outputOption())
    .action((o: Out) => run((c) => versionView(c, o.output)));
  program.command('info').description('runtime and network conditions and the daemon\'s config (verbose Status)')
    .addOption(outputOption(['json', 'yaml']))
    .action((o: { output: 'json' | 'yaml' }) => run((c) => infoView(c, o.output)));
}

/** The whole berthctl command line; `parseAsync()` runs it. */
export function berthctlProgram(): Command {
  const program = new Command('berthctl').description('talk to the berth CRI daemon')
    .option('--address <path>', 'berth socket (env BERTH_ADDRESS)', process.env.BERTH_ADDRESS ?? DEFAULT_ADDRESS);
  const run: Run = (fn) => withClient(program.opts<{ address: string }>().address, fn);
  listCommands(program, run);
  imageCommands(program, run);
  archiveCommands(program, () => program.opts<{ address: string }>().address);
  lifecycleCommands(program, run);
  streamCommands(program, run);
  runtimeCommands(program, run);
  return program;
}
