// berthctl's views of a real berth daemon: `pull` on a terminal (a pty made by util-linux `script`)
// shows the bytes the daemon has downloaded from a real docker-registry (behind a throttling TCP
// proxy, so the pull lasts long enough to be watched); `-o json|yaml` on the listings; `events`,
// `stats`, `version` and `info`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { bundleEntry, projectRoot } from '../helpers/bundle.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { LOCAL_BUSYBOX, podConfig, startBerth, until, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const run = promisify(execFile);
/** The pulled image's layer, and how fast the proxy lets it through: about 3 s of pulling. */
const LAYER_BYTES = 12 << 20;
const PROXY_BYTES_PER_S = 4 << 20;

let b: Berth;
let ctl: string;
let reg: TestRegistry;
let proxy: net.Server;
let proxyHost = '';
let layoutDir = '';
const sockets = new Set<net.Socket>();

/** A TCP proxy to `target` that lets at most `bytesPerS` a second through towards the client. */
async function throttlingProxy(target: string, bytesPerS: number): Promise<net.Server> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      upstream.pause();
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerS) * 1000);
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

beforeAll(async () => {
  layoutDir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-ctl-layout-'));
  // Random bytes do not compress: the blob on the wire is as large as the file.
  const big = makeImage([await makeLayer([{ name: 'big.bin', content: randomBytes(LAYER_BYTES) }], { gzip: false })]);
  await writeLayout(layoutDir, 'v1', big);
  [b, ctl, reg] = await Promise.all([startBerth(), bundleEntry('cli/berthctl.ts'), startRegistry()]);
  await reg.push(layoutDir, 'v1', 'test/big');
  proxy = await throttlingProxy(reg.host, PROXY_BYTES_PER_S);
  proxyHost = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
}, 180_000);
afterAll(async () => {
  for (const s of sockets) s.destroy();
  if (proxy) await new Promise((r) => proxy.close(r));
  await reg?.stop();
  await b?.stop();
  await fs.rm(layoutDir, { recursive: true, force: true });
}, 120_000);

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const berthctl = async (...args: string[]) => (await run(process.execPath, [ctl, '--address', b.address, ...args], { timeout: 60_000 })).stdout;
const json = async <T>(...args: string[]) => JSON.parse(await berthctl(...args)) as T;
/** `-o yaml` read back (client-node's YAML reader, as berthctl play reads manifests). */
const yaml = async <T>(...args: string[]): Promise<T> => {
  const { loadYaml } = (await import('@kubernetes/client-node/dist/yaml.js')) as { loadYaml: (t: string) => unknown };
  return loadYaml(await berthctl(...args)) as T;
};

/** A running pod with one container; `cmd` is its command. */
async function runPod(name: string, cmd: string[]): Promise<{ pod: string; ctr: string }> {
  const config = podConfig(b, name);
  const pod = (await b.cri.runtime.RunPodSandbox({ config })).podSandboxId;
  const ctr = (await b.cri.runtime.CreateContainer({
    podSandboxId: pod, sandboxConfig: config,
    config: { metadata: { name: `${name}-ctr` }, image: { image: LOCAL_BUSYBOX }, command: cmd, logPath: `${name}.log` },
  })).containerId;
  await b.cri.runtime.StartContainer({ containerId: ctr });
  return { pod, ctr };
}

async function removePod(pod: string): Promise<void> {
  await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
  await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
}

describe('berthctl pull on a terminal', () => {
  it('shows the bytes the daemon has downloaded so far, from its content ingest directory', async () => {
    const ref = `${proxyHost}/test/big:v1`;
    const cmd = [process.execPath, ctl, '--address', b.address, 'pull', '--root', path.join(b.dir, 'root'), ref]
      .map((a) => `'${a}'`).join(' ');
    // script gives the command a pty on stdin/stdout/stderr and copies what it writes to our stdout.
    const { stdout } = await run('script', ['-qfec', cmd, '/dev/null'], { timeout: 60_000, maxBuffer: 16 << 20 });
    const shown = [...stdout.matchAll(/pulling ([\d.]+) (B|kB|MB|GB) at/g)].map((m) => Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B']);
    expect(shown.length).toBeGreaterThan(0);
    // The progress line counts the ingest files: it reaches a good part of the layer before it lands.
    expect(Math.max(...shown)).toBeGreaterThan(LAYER_BYTES / 4);
    expect(stdout).toMatch(new RegExp(`${ref.replace(/[.]/g, '\\.')}: sha256:[0-9a-f]{64} \\(12\\.\\d+ MB\\) in`));
    expect((await b.cri.image.ImageStatus({ image: { image: ref } })).image?.size).toBeGreaterThan(LAYER_BYTES);
  }, 90_000);

  it('prints no progress line when stderr is not a terminal', async () => {
    const { stdout, stderr } = await run(process.execPath, [ctl, '--address', b.address, 'pull', '--root', path.join(b.dir, 'root'), LOCAL_BUSYBOX], { timeout: 60_000 });
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^berth.local\/busybox:latest: sha256:[0-9a-f]{64} /);
  });
});

describe('berthctl listings with -o json and -o yaml', () => {
  it('prints the CRI replies of pods, ps and images, and the shims with their memory', async () => {
    const { pod, ctr } = await runPod('listed', ['sleep', '300']);
    try {
      const pods = await json<{ items: Array<{ id: string; state: string; metadata: { name: string } }> }>('pods', '-o', 'json');
      // Every field is printed, a zero enum too (SANDBOX_READY is 0).
      expect(pods.items.find((p) => p.id === pod)).toMatchObject({ state: 'SANDBOX_READY', metadata: { name: 'listed' } });
      expect(await yaml('pods', '-o', 'yaml')).toEqual(pods);
      const ps = await json<{ containers: Array<{ id: string; podSandboxId: string; state: string; createdAt: string }> }>('ps', '-o', 'json');
      expect(ps.containers.find((x) => x.id === ctr)).toMatchObject({ podSandboxId: pod, state: 'CONTAINER_RUNNING', createdAt: expect.stringMatching(/^\d+$/) });
      expect(await yaml('ps', '-o', 'yaml')).toEqual(ps);
      const images = await json<{ images: Array<{ id: string; repoTags: string[]; size: string }> }>('images', '-o', 'json');
      expect(images.images.find((i) => i.repoTags.includes(LOCAL_BUSYBOX))?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await yaml('images', '-o', 'yaml')).toEqual(images);
      const shims = await json<{ shims: Array<{ podSandboxId: string; shimPid: number; shim: string; containers: number; pssBytes: number }> }>('shims', '-o', 'json');
      const mine = shims.shims.find((s) => s.podSandboxId === pod);
      expect(mine).toMatchObject({ shim: 'containerd-shim-runc-v2', containers: 1 });
      expect(mine!.shimPid).toBeGreaterThan(0);
      expect(mine!.pssBytes).toBeGreaterThan(0);
      const shimsYaml = await yaml<typeof shims>('shims', '-o', 'yaml');
      expect(shimsYaml.shims.find((s) => s.podSandboxId === pod)).toMatchObject({ shimPid: mine!.shimPid, containers: 1 });
      const inspected = await json<{ status: { id: string; state: string } }>('inspect', ctr);
      expect(inspected).toMatchObject({ status: { id: ctr, state: 'CONTAINER_RUNNING' } });
      expect(await yaml('inspect', '-o', 'yaml', ctr)).toEqual(inspected);
    } finally {
      await removePod(pod);
    }
  }, 60_000);

  it('refuses an unknown format', async () => {
    await expect(berthctl('pods', '-o', 'xml')).rejects.toMatchObject({ stderr: expect.stringMatching(/argument 'xml' is invalid. Allowed choices are table, json, yaml/) });
  });
});

describe('berthctl events, stats, version, info', () => {
  it('events prints one line per container and pod event as they happen, and -o json one object a line', async () => {
    const text = spawn(process.execPath, [ctl, '--address', b.address, 'events'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const asJson = spawn(process.execPath, [ctl, '--address', b.address, 'events', '-o', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(text, asJson);
    let out = '';
    let jsonOut = '';
    text.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    asJson.stdout.on('data', (d: Buffer) => { jsonOut += d.toString(); });
    // Events before a subscriber joins are not replayed: start pods until both streams saw one.
    const pods: string[] = [];
    try {
      await until(async () => {
        const config = podConfig(b, 'probe');
        pods.push((await b.cri.runtime.RunPodSandbox({ config })).podSandboxId);
        return out.includes('CONTAINER_STARTED pod') && jsonOut.includes('CONTAINER_STARTED');
      }, 'both event streams', 30_000);
      const { pod, ctr } = await runPod('evented', ['sh', '-c', 'exit 3']);
      pods.push(pod);
      await until(() => b.cri.runtime.ContainerStatus({ containerId: ctr }).then((s) => s.status?.state === v1.ContainerState.CONTAINER_EXITED), 'exit');
      await b.cri.runtime.RemoveContainer({ containerId: ctr });
      const sid = ctr.slice(0, 13);
      const want = ['CREATED', 'STARTED', 'STOPPED', 'DELETED'].map((t) => `CONTAINER_${t} container ${sid} evented-ctr pod ${pod.slice(0, 13)} berth-test/evented`);
      await until(() => want.every((w) => out.includes(w)) && jsonOut.includes('"CONTAINER_DELETED_EVENT"'), 'all four events').catch((err: unknown) => {
        throw new Error(`${String(err)}; text stream:\n${out}`);
      });
      const lines = out.split('\n').filter((l) => l.includes(sid));
      expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual(want);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
      const objects = jsonOut.trim().split('\n').map((l) => JSON.parse(l) as { containerId: string; containerEventType: string; podSandboxStatus?: { id: string } });
      expect(objects.filter((o) => o.containerId === ctr).map((o) => o.containerEventType))
        .toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
      expect(objects.find((o) => o.containerId === ctr)?.podSandboxStatus?.id).toBe(pod);
    } finally {
      for (const p of pods) await removePod(p);
    }
  }, 90_000);

  it('stats shows the CPU and memory of a busy container and of its pod', async () => {
    const { pod, ctr } = await runPod('busy', ['sh', '-c', 'while :; do :; done']);
    try {
      const row = (await berthctl('stats', '-s', '1')).split('\n').find((l) => l.startsWith(ctr.slice(0, 13)));
      expect(row).toBeDefined();
      const [, name, podId, cpu, mem] = row!.split(/\s{3,}/);
      expect([name, podId]).toEqual(['busy-ctr', pod.slice(0, 13)]);
      expect(Number(cpu)).toBeGreaterThan(5); // a shell spinning on a core (of two, shared with other tests)
      expect(mem).toMatch(/^[\d.]+ (kB|MB)$/);
      const podRow = (await berthctl('stats', '--pods', '-s', '1')).split('\n').find((l) => l.startsWith(pod.slice(0, 13)));
      const [, podName, ns, podCpu, podMem, procs, ctrs] = podRow!.split(/\s{3,}/);
      expect([podName, ns, ctrs]).toEqual(['busy', 'berth-test', '1']);
      expect(Number(podCpu)).toBeGreaterThan(5);
      expect(podMem).toMatch(/^[\d.]+ (kB|MB)$/);
      expect(Number(procs)).toBeGreaterThanOrEqual(1);
      const asJson = await json<{ stats: Array<{ attributes: { id: string }; cpu: { usageCoreNanoSeconds: { value: string } } }> }>('stats', '-s', '0', '-o', 'json');
      expect(Number(asJson.stats.find((s) => s.attributes.id === ctr)?.cpu.usageCoreNanoSeconds.value)).toBeGreaterThan(0);
      const podStats = await yaml<{ stats: Array<{ attributes: { id: string }; linux: { containers: Array<{ attributes: { id: string } }> } }> }>('stats', '--pods', '-s', '0', '-o', 'yaml');
      expect(podStats.stats.find((s) => s.attributes.id === pod)?.linux.containers.map((x) => x.attributes.id)).toEqual([ctr]);
      // An exited container is listed with -a only.
      await b.cri.runtime.StopContainer({ containerId: ctr, timeout: 0 });
      expect(await berthctl('stats', '-s', '0')).not.toContain(ctr.slice(0, 13));
      expect(await berthctl('stats', '-s', '0', '-a')).toMatch(new RegExp(`^${ctr.slice(0, 13)}\\s+busy-ctr\\s`, 'm'));
    } finally {
      await removePod(pod);
    }
  }, 60_000);

  it('version prints berthctl\'s and the runtime\'s version', async () => {
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await berthctl('version')).toMatch(new RegExp(`^Client Version:\\s+${pkg.version}\\nVersion:\\s+0\\.1\\.0\\nRuntimeName:\\s+berth\\nRuntimeVersion:\\s+\\S+\\nRuntimeApiVersion:\\s+v1\\n$`));
    expect(await json('version', '-o', 'json')).toEqual({ clientVersion: pkg.version, version: '0.1.0', runtimeName: 'berth', runtimeVersion: expect.any(String), runtimeApiVersion: 'v1' });
  });

  it('info prints the runtime conditions and the daemon\'s config (verbose Status)', async () => {
    const info = await json<{ status: { conditions: Array<{ type: string; status: boolean }> }; config: { toml: string } }>('info');
    expect(info.status.conditions).toEqual([{ type: 'RuntimeReady', status: true, reason: '', message: '' }, expect.objectContaining({ type: 'NetworkReady', status: true })]);
    expect(info.config.toml).toContain(`sandbox_image = "`);
    expect(await yaml('info', '-o', 'yaml')).toEqual(info);
  });
});
