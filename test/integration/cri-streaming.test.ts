// Exec, Attach and PortForward end to end: a real berth daemon returns the URLs through its CRI
// socket, @kubernetes/client-node (WebSocket) and spdy-transport (SPDY/3.1) connect to them, and
// the sessions run in real containers on the runc shim and on berth's own; port-forward reaches a
// busybox httpd bound to 127.0.0.1 inside the pod's network namespace.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import net from 'node:net';
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Attach, Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import { isKind } from '../../common/index.js';
import { bundleEntry } from '../helpers/bundle.js';
import { MAX_CONTROL_PAYLOAD } from '../../cri/streaming/spdy-frames.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, until, useBerth } from './cri-harness.js';
import { GOAWAY, REFUSED_STREAM, RST_STREAM, RawSpdyClient, SPDY_DICTIONARY, compressedBlock, spdyUpgrade } from './streaming-raw-spdy.js';

/** client-node pointed straight at a URL berth returned (no API server in between). */
function k8s(url: string) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: new URL(url).origin, skipTLSVerify: true }], users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  const handler = new WebSocketHandler(kc, (_u: string, protocols: string[], opts: WebSocket.ClientOptions) => new WebSocket(url, protocols, opts));
  return { kc, handler };
}

class Collect extends Writable {
  readonly parts: Buffer[] = [];
  override _write(c: Buffer, _e: BufferEncoding, done: () => void): void { this.parts.push(c); done(); }
  get text(): string { return Buffer.concat(this.parts).toString(); }
}

/** A terminal-like sink: client-node sends its size as the first resize. */
class Terminal extends Collect {
  columns = 97;
  rows = 31;
}

const run = promisify(execFile);
const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

const ended = (ws: WebSocket): Promise<void> =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((r) => ws.once('close', () => r()));

/** How long an exec may take to end once its client closed stdin before the close counts as lost. */
const STDIN_CLOSE_SEEN_MS = 15_000;

async function poll(cond: () => boolean, what: string): Promise<void> {
  await until(() => cond(), what, 15_000);
}

describe.each(CRI_HANDLERS)('streaming on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let pod = '';
  const ctr: Record<'sleeper' | 'echoer' | 'term' | 'once' | 'httpd' | 'done', string> = { sleeper: '', echoer: '', term: '', once: '', httpd: '', done: '' };
  const HTTP_PORT = 8080;
  beforeAll(async () => {
    const b = berth();
    // kubelet's pid mode CONTAINER: the pod runs without a pause process (docs/cri.md), so exec,
    // attach and port-forward (into the pinned netns, by its path) are proven on such a pod.
    const config = podConfig(b, 'stream', { linux: { securityContext: { namespaceOptions: { pid: 1 } } } });
    pod = (await b.cri.runtime.RunPodSandbox({ config })).podSandboxId;
    expect((JSON.parse((await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod, verbose: true })).info.info!) as { pauseless?: boolean }).pauseless).toBe(true);
    const make = async (name: keyof typeof ctr, command: string[], extra: Record<string, unknown> = {}) => {
      const { containerId } = await b.cri.runtime.CreateContainer({
        podSandboxId: pod, sandboxConfig: config,
        config: { metadata: { name }, image: { image: LOCAL_BUSYBOX }, command, logPath: `${name}.log`, ...extra },
      });
      await b.cri.runtime.StartContainer({ containerId });
      ctr[name] = containerId;
    };
    await make('sleeper', ['/bin/sleep', '3600']);
    await make('echoer', ['/bin/sh', '-c', 'while read l; do echo out:$l; echo err:$l >&2; done'], { stdin: true });
    await make('term', ['/bin/sh'], { stdin: true, tty: true });
    await make('once', ['/bin/sh', '-c', 'cat; echo cat-done'], { stdin: true, stdinOnce: true });
    await make('httpd', ['/bin/sh', '-c',
      `mkdir -p /www && echo hello-from-pod > /www/index.html && exec /bin/busybox httpd -f -p 127.0.0.1:${HTTP_PORT} -h /www`]);
    await make('done', ['/bin/true']);
    await until(async () => (await b.cri.runtime.ContainerStatus({ containerId: ctr.done })).status!.state === 2, 'container done to exit');
  }, 120_000);

  interface ExecResult { stdout: string; stderr: string; status: V1Status | undefined }

  async function exec(cmd: string[], o: { stdin?: Readable; tty?: boolean; stdout?: Collect; container?: string } = {}): Promise<ExecResult> {
    const tty = o.tty ?? false;
    const { url } = await berth().cri.runtime.Exec({
      containerId: o.container ?? ctr.sleeper, cmd, tty, stdin: o.stdin !== undefined, stdout: true, stderr: !tty,
    });
    const { kc, handler } = k8s(url);
    const stdout = o.stdout ?? new Collect();
    const stderr = new Collect();
    let status: V1Status | undefined;
    const ws = await new Exec(kc, handler).exec('ns', 'pod', 'c', cmd, stdout, tty ? null : stderr, o.stdin ?? null, tty, (s) => { status = s; });
    await ended(ws as unknown as WebSocket);
    return { stdout: stdout.text, stderr: stderr.text, status };
  }

  /** client-node's Attach with stdin; a TTY attach gets a terminal-like stdout (its size is sent). */
  async function attach(containerId: string, tty = false) {
    const { url } = await berth().cri.runtime.Attach({ containerId, tty, stdin: true, stdout: true, stderr: !tty });
    const { kc, handler } = k8s(url);
    const out = tty ? new Terminal() : new Collect();
    const err = new Collect();
    const stdin = new PassThrough();
    const ws = (await new Attach(kc, handler).attach('ns', 'pod', 'c', out, tty ? null : err, stdin, tty)) as unknown as WebSocket;
    return { ws, out, err, stdin };
  }

  /** Exec FIFOs left in a task's io dir (the task manager keeps them in <state>/…/<ns>/<id>/io). */
  async function execFifos(containerId: string): Promise<string[]> {
    const io = path.join(berth().dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', containerId, 'io');
    return (await readdir(io)).filter((n) => n.startsWith('exec-'));
  }

  /** The daemon's child processes (port-forward must start none). */
  function daemonChildren(): number[] {
    const daemon = daemonPid();
    return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((p) => {
      try {
        return Number(readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === daemon;
      } catch {
        return false;
      }
    }).map(Number);
  }

  /** Established TCP connections to `port` inside the pod's network namespace. */
  async function podConnections(port: number): Promise<number> {
    const netns = path.join(berth().dir, 'state', 'netns', pod);
    const { stdout } = await run('nsenter', [`--net=${netns}`, 'ss', '-Htn', 'state', 'established', `( sport = :${port} )`]);
    return stdout.split('\n').filter((l) => l.trim() !== '').length;
  }

  /** The daemon's pid: the process with this socket after --address that is not a shim. */
  function daemonPid(): number {
    for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        if (argv[argv.indexOf('--address') + 1] === berth().address && !argv.some((a) => a.includes('shim'))) return Number(p);
      } catch {
        // gone
      }
    }
    throw new Error('berth daemon not found');
  }

  /** The processes of a container as `ps` in it lists them (without the ps itself). */
  async function processes(containerId: string): Promise<string> {
    const r = await berth().cri.runtime.ExecSync({ containerId, cmd: ['/bin/ps', '-o', 'pid,args'], timeout: 10 });
    return Buffer.from(r.stdout).toString().split('\n').filter((l) => !l.includes('ps -o')).join('\n');
  }

  describe('Exec through the CRI with client-node (WebSocket)', () => {
    it('returns a URL of the streaming server', async () => {
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper.slice(0, 10), cmd: ['true'], stdout: true });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{8}$/);
    });

    it('separates stdout and stderr and reports exit codes', async () => {
      const ok = await exec(['/bin/sh', '-c', 'echo out; echo err >&2; cat /etc/hostname']);
      expect([ok.stdout, ok.stderr]).toEqual(['out\nstream\n', 'err\n']);
      expect(ok.status).toEqual({ metadata: {}, status: 'Success' });
      const bad = await exec(['/bin/sh', '-c', 'echo bye; exit 3']);
      expect(bad.stdout).toBe('bye\n');
      expect(bad.status?.reason).toBe('NonZeroExitCode');
      expect(bad.status?.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '3' });
    });

    it('echoes stdin through cat and ends when stdin closes', async () => {
      // client-node sends the data, then the v5 close of stdin: cat must see the close and exit.
      // A lost close leaves cat (and kubectl exec -i) waiting forever: fail on it by name within
      // seconds, not at the test timeout, and kill the exec so no FIFO is left for the next tests.
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['/bin/cat'], stdin: true, stdout: true, stderr: true });
      const { kc, handler } = k8s(url);
      const stdout = new Collect();
      const stdin = Readable.from([Buffer.from('hello\n'), Buffer.from('container\n')]);
      const stdinClosed = new Promise((r) => stdin.once('end', r));
      let status: V1Status | undefined;
      const ws = (await new Exec(kc, handler).exec('ns', 'pod', 'c', ['/bin/cat'], stdout, new Collect(), stdin, false, (s) => { status = s; })) as unknown as WebSocket;
      try {
        await stdinClosed;
        const endedInTime = await Promise.race([ended(ws).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STDIN_CLOSE_SEEN_MS))]);
        if (!endedInTime) {
          const cat = (await processes(ctr.sleeper)).includes('/bin/cat');
          expect.fail(`stdin close lost: the exec had not ended ${STDIN_CLOSE_SEEN_MS} ms after the client closed stdin (${cat ? '/bin/cat still waits for input' : 'cat is gone, the session is not'})`);
        }
        expect(stdout.text).toBe('hello\ncontainer\n');
        expect(status?.status).toBe('Success');
      } finally {
        ws.terminate();
      }
      await until(async () => (await execFifos(ctr.sleeper)).length === 0, 'the exec FIFOs to be removed');
    });

    it('reports a command that cannot start as a Failure status', async () => {
      const r = await exec(['/no/such/binary']);
      expect(r.status?.status).toBe('Failure');
      expect(r.status?.message).toMatch(/no such file|not found|executable/i);
    });

    it('applies the client terminal size to the exec TTY (stty size)', async () => {
      const stdin = new PassThrough();
      const term = new Terminal();
      const write = term._write.bind(term);
      term._write = (c, e, done) => {
        write(c, e, done);
        if (term.text.includes('ready') && !stdin.writableEnded) stdin.end('go\n');
      };
      // (the sleep: berth's shim drops pty output still unread when the process exits — its bug, not this test's)
      const r = await exec(['/bin/sh', '-c', 'echo ready; read x; /bin/busybox stty size; sleep 0.3'], { tty: true, stdin, stdout: term });
      expect(r.stdout).toContain('31 97');
      expect(r.status?.status).toBe('Success');
    });

    it('delivers a large output completely (10 MB through the FIFO, the shim and the WebSocket)', async () => {
      let bytes = 0;
      const counter = new Writable({ write(c: Buffer, _e, done) { bytes += c.length; done(); } });
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['/bin/head', '-c', '10000000', '/dev/zero'], stdout: true });
      const { kc, handler } = k8s(url);
      let status: V1Status | undefined;
      const ws = await new Exec(kc, handler).exec('ns', 'pod', 'c', ['head'], counter, null, null, false, (s) => { status = s; });
      await ended(ws as unknown as WebSocket);
      expect(bytes).toBe(10_000_000);
      expect(status?.status).toBe('Success');
    });

    it('runs 20 execs at once, each with its own output and exit code', async () => {
      const procs = async () => (await processes(ctr.sleeper)).trim().split('\n').slice(1).map((l) => l.trim().replace(/^\d+\s+/, '')).sort();
      const before = await procs();
      const all = await Promise.all(Array.from({ length: 20 }, (_, i) => exec(['/bin/sh', '-c', 'echo n$0; exit $(($0 % 3))', String(i)])));
      all.forEach((r, i) => {
        expect(r.stdout).toBe(`n${i}\n`);
        if (i % 3 === 0) expect(r.status?.status).toBe('Success');
        else expect(r.status?.details?.causes?.[0]?.message).toBe(String(i % 3));
      });
      // every exec was deleted: no process left in the pod, no FIFO left in the task's io dir
      expect(await procs()).toEqual(before);
      expect(await execFifos(ctr.sleeper)).toEqual([]);
    }, 60_000);

    it('bounds the daemon memory while a client stops reading a 100 MB output, then delivers all of it', async () => {
      const pid = daemonPid();
      const before = rssKb(pid);
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['/bin/head', '-c', '100000000', '/dev/zero'], stdout: true });
      const ws = new WebSocket(url, ['v4.channel.k8s.io']);
      let bytes = 0;
      ws.on('message', (m: Buffer) => { if (m[0] === 1) bytes += m.length - 1; });
      await new Promise((r) => ws.once('open', r));
      ws.pause();
      let peak = before;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssKb(pid));
      }
      expect(peak - before).toBeLessThan(64 * 1024);
      ws.resume();
      await ended(ws);
      expect(bytes).toBe(100_000_000);
      expect(await execFifos(ctr.sleeper)).toEqual([]);
    }, 60_000);

    it('kills the exec process when the client disconnects mid-stream', async () => {
      const marker = `sleep ${4000 + Math.floor(Math.random() * 1000)}`;
      const cmd = ['/bin/sh', '-c', `echo started; exec ${marker}`];
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd, stdout: true, stderr: true });
      const { kc, handler } = k8s(url);
      const out = new Collect();
      const ws = (await new Exec(kc, handler).exec('ns', 'pod', 'c', cmd, out, new Collect(), null, false)) as unknown as WebSocket;
      await poll(() => out.text.includes('started'), 'the exec to start');
      expect(await processes(ctr.sleeper)).toContain(marker);
      ws.terminate();
      await until(async () => !(await processes(ctr.sleeper)).includes(marker), 'the exec process to be killed');
      const r = await exec(['/bin/echo', 'still serving']);
      expect(r.stdout).toBe('still serving\n');
    });

    it('refuses unknown and stopped containers and bad requests with typed errors', async () => {
      const rt = berth().cri.runtime;
      await expect(rt.Exec({ containerId: 'f00dbeef', cmd: ['true'], stdout: true })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
      await expect(rt.Exec({ containerId: ctr.done, cmd: ['true'], stdout: true })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
      await expect(rt.Attach({ containerId: ctr.done, stdout: true })).rejects.toSatisfy((e) => isKind(e, 'failed-precondition'));
      await expect(rt.Exec({ containerId: ctr.sleeper, cmd: ['sh'], tty: true, stdout: true, stderr: true }))
        .rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
      await expect(rt.Exec({ containerId: ctr.sleeper, cmd: [], stdout: true })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
      await expect(rt.PortForward({ podSandboxId: 'f00dbeef', port: [80] })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
      await expect(rt.PortForward({ podSandboxId: pod, port: [70000] })).rejects.toSatisfy((e) => isKind(e, 'invalid-argument'));
    });
  });

  /**
   * Runs `work` while sampling the daemon's RSS every 50 ms; `grewPast()` tells it to stop early
   * once the growth passed `boundKb` (a daemon that buffers without bound must not take the
   * machine with it).
   */
  async function sampleRss(boundKb: number, work: (grewPast: () => boolean) => Promise<void>): Promise<{ baseline: number; peak: number }> {
    const pid = daemonPid();
    const baseline = rssKb(pid);
    let peak = baseline;
    const timer = setInterval(() => { peak = Math.max(peak, rssKb(pid)); }, 50);
    try {
      await work(() => peak - baseline > boundKb);
    } finally {
      clearInterval(timer);
    }
    return { baseline, peak: Math.max(peak, rssKb(pid)) };
  }

  describe('SPDY/3.1 clients that do not play fair (raw frames, as Go spdystream sends them)', () => {
    const MB = 1024 * 1024;
    const BOUND_KB = 64 * 1024;

    it('stops reading a client that floods the stdin of a command that never reads it: daemon memory bounded, back near baseline after', async () => {
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['/bin/sleep', '30'], stdin: true, stdout: true, stderr: true });
      const client = await RawSpdyClient.connect(url, 'v4.channel.k8s.io');
      let written = 0;
      let accepted = 0;
      let before = 0;
      try {
        const { baseline, peak } = await sampleRss(BOUND_KB, async (grewPast) => {
          for (const [id, streamtype] of [[1, 'error'], [3, 'stdin'], [5, 'stdout'], [7, 'stderr']] as const) await client.open(id, { streamtype });
          // 2 GB of zeros offered for 8 s, as fast as the kernel takes them (windows ignored, as Go clients do)
          const chunk = Buffer.alloc(32 * 1024);
          const deadline = Date.now() + 8_000;
          while (written < 2048 * MB && Date.now() < deadline && !grewPast()) {
            if (client.socket.writableLength > MB) { await new Promise((r) => setTimeout(r, 20)); continue; }
            client.data(3, chunk);
            written += chunk.length;
          }
          accepted = written - client.socket.writableLength;
        });
        before = baseline;
        expect(peak - baseline).toBeLessThan(BOUND_KB);
        // kernel socket buffers, one stream buffer and the FIFO/pipe to the shim: megabytes, not the 2 GB offered
        expect(accepted).toBeLessThan(64 * MB);
      } finally {
        client.destroy();
      }
      // the client is gone: its exec is killed and deleted, and the daemon is back near where it was
      await until(async () => (await execFifos(ctr.sleeper)).length === 0, 'the exec to be deleted');
      await until(() => rssKb(daemonPid()) - before < BOUND_KB, 'the daemon RSS to come back near its baseline', 10_000);
    }, 60_000);

    it('refuses header blocks that inflate past the cap with GOAWAY, without the memory they ask for, and keeps serving', async () => {
      // 50 MiB of header value in < 64 KiB of zlib: a block within the frame cap that only inflation reveals
      const bomb = compressedBlock({ streamtype: 'x'.repeat(50 * MB) });
      expect(bomb.length).toBeLessThan(MAX_CONTROL_PAYLOAD - 10);
      const urls = await Promise.all(Array.from({ length: 8 }, async () => (await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['true'], stdout: true })).url));
      const { baseline, peak } = await sampleRss(BOUND_KB, async () => {
        const clients = await Promise.all(urls.map((u) => RawSpdyClient.connect(u, 'v4.channel.k8s.io')));
        try {
          for (const c of clients) c.synStreamRaw(1, bomb);
          expect(await Promise.all(clients.map((c) => c.closedWithin(20_000)))).toEqual(clients.map(() => true));
          // GOAWAY with status PROTOCOL_ERROR (1), last good stream 0: the stream was never accepted
          for (const c of clients) expect(c.control(GOAWAY).map((f) => f.payload.toString('hex'))).toEqual(['0000000000000001']);
        } finally {
          for (const c of clients) c.destroy();
        }
      });
      expect(peak - baseline).toBeLessThan(BOUND_KB);
      expect((await exec(['/bin/echo', 'still serving'])).stdout).toBe('still serving\n');
    });

    it('refuses a control frame longer than the cap from its length alone, whatever it would inflate to', async () => {
      // a 256 KiB SYN_STREAM whose block inflates to 256 MiB
      const zeros = Buffer.alloc(MB);
      const deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY, level: 9 });
      const parts: Buffer[] = [];
      deflate.on('data', (c: Buffer) => parts.push(c));
      const head = Buffer.alloc(4 + 4 + 10 + 4);
      head.writeUInt32BE(1, 0);
      head.writeUInt32BE(10, 4);
      head.write('streamtype', 8);
      head.writeUInt32BE(256 * MB, 18);
      deflate.write(head);
      for (let i = 0; i < 256; i++) deflate.write(zeros);
      await new Promise((r) => deflate.end(r));
      const block = Buffer.concat(parts);
      expect(block.length).toBeGreaterThan(MAX_CONTROL_PAYLOAD);
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['true'], stdout: true });
      const { baseline, peak } = await sampleRss(BOUND_KB, async () => {
        const c = await RawSpdyClient.connect(url, 'v4.channel.k8s.io');
        try {
          c.synStreamRaw(1, block);
          expect(await c.closedWithin(20_000)).toBe(true);
          expect(c.control(GOAWAY).map((f) => f.payload.readUInt32BE(4))).toEqual([1]);
        } finally {
          c.destroy();
        }
      });
      expect(peak - baseline).toBeLessThan(BOUND_KB);
      expect((await exec(['/bin/echo', 'still serving'])).stdout).toBe('still serving\n');
    });

    it('refuses streams an exec session does not use (RST_STREAM REFUSED_STREAM) and still runs the exec', async () => {
      const { url } = await berth().cri.runtime.Exec({ containerId: ctr.sleeper, cmd: ['/bin/sh', '-c', 'sleep 1; echo ok'], stdout: true });
      const c = await RawSpdyClient.connect(url, 'v4.channel.k8s.io');
      try {
        await c.open(1, { streamtype: 'error' });
        await c.open(3, { streamtype: 'stdout' });
        for (const [id, streamtype] of [[5, 'stdout'], [7, 'stdin'], [9, 'resize'], [11, 'error']] as const) await c.open(id, { streamtype });
        expect(await c.closedWithin(20_000)).toBe(true);
        const refused = c.control(RST_STREAM).map((f) => [f.payload.readUInt32BE(0), f.payload.readUInt32BE(4)]);
        expect(refused).toEqual([5, 7, 9, 11].map((id) => [id, REFUSED_STREAM]));
        expect(c.text(3)).toBe('ok\n');
        expect(JSON.parse(c.text(1))).toEqual({ metadata: {}, status: 'Success' });
      } finally {
        c.destroy();
      }
    });
  });

  describe('Exec over SPDY/3.1 with spdy-transport', () => {
    const require = createRequire(import.meta.url);
    const spdy = require('spdy-transport') as {
      connection: { create(s: Duplex, o: { protocol: string; isServer: boolean }): SpdyConn };
    };
    interface SpdyConn {
      start(version: number): void;
      request(o: { method: string; path: string; headers: Record<string, string> }, cb: (err: Error | null, s: Duplex) => void): Duplex;
      end(): void;
    }

    /** Upgrades to SPDY/3.1 with kubectl's headers; resolves with the negotiated protocol and a client. */
    async function dial(url: string, protocol = 'v4.channel.k8s.io'): Promise<{ protocol: string; conn: SpdyConn; socket: net.Socket }> {
      const { socket, status, head, rest } = await spdyUpgrade(url, [protocol]);
      if (status !== 101) throw new Error(head);
      if (rest.length > 0) socket.unshift(rest);
      const conn = spdy.connection.create(socket, { protocol: 'spdy', isServer: false });
      conn.start(3.1);
      socket.resume();
      return { protocol: /X-Stream-Protocol-Version: (\S+)/i.exec(head)?.[1] ?? '', conn, socket };
    }

    const open = (conn: SpdyConn, streamtype: string, more: Record<string, string> = {}) => new Promise<Duplex>((resolve, reject) => {
      conn.request({ method: 'POST', path: '/', headers: { streamtype, ...more } }, (err, s) => (err ? reject(err) : resolve(s)));
    });
    const read = (s: Duplex) => new Promise<string>((resolve) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.once('end', () => resolve(Buffer.concat(parts).toString()));
    });

    it('carries stdin, stdout, stderr and the v4 exit status', async () => {
      const { url } = await berth().cri.runtime.Exec({
        containerId: ctr.sleeper, cmd: ['/bin/sh', '-c', 'cat; echo err >&2; exit 5'], stdin: true, stdout: true, stderr: true,
      });
      const { protocol, conn, socket } = await dial(url);
      try {
        expect(protocol).toBe('v4.channel.k8s.io');
        const error = await open(conn, 'error');
        const stdin = await open(conn, 'stdin');
        const [out, err, status] = [read(await open(conn, 'stdout')), read(await open(conn, 'stderr')), read(error)];
        stdin.end('over spdy');
        expect(await out).toBe('over spdy');
        expect(await err).toBe('err\n');
        const st = JSON.parse(await status) as V1Status;
        expect([st.status, st.reason, st.details?.causes?.[0]?.message]).toEqual(['Failure', 'NonZeroExitCode', '5']);
      } finally {
        socket.destroy();
      }
    });

    it('port-forwards as kubectl does (portforward.k8s.io: data/error stream pairs by requestID)', async () => {
      await until(async () => (await processes(ctr.httpd)).includes('httpd'), 'httpd to run');
      const { url } = await berth().cri.runtime.PortForward({ podSandboxId: pod });
      const { protocol, conn, socket } = await dial(url, 'portforward.k8s.io');
      try {
        expect(protocol).toBe('portforward.k8s.io');
        const forward = async (requestid: string, port: number) => {
          const error = await open(conn, 'error', { port: String(port), requestid });
          const data = await open(conn, 'data', { port: String(port), requestid });
          const [body, err] = [read(data), read(error)];
          data.write('GET /index.html HTTP/1.0\r\n\r\n');
          return { body: await body, err: await err };
        };
        const [a, b, refused] = await Promise.all([forward('0', HTTP_PORT), forward('1', HTTP_PORT), forward('2', 1)]);
        for (const r of [a, b]) expect([r.body.includes('hello-from-pod'), r.err]).toEqual([true, '']);
        expect(refused.err).toMatch(new RegExp(`^error forwarding port 1 to pod ${pod}.*ECONNREFUSED`));
      } finally {
        socket.destroy();
      }
    });
  });

  describe('Attach through the CRI with client-node', () => {
    it('joins the live stdio of a stdin container: stdin in, stdout and stderr out; the log still gets it', async () => {
      const { ws, out, err, stdin } = await attach(ctr.echoer);
      stdin.write('one\n');
      await poll(() => out.text.includes('out:one') && err.text.includes('err:one'), 'attach output');
      ws.close();
      await ended(ws);
      expect([out.text, err.text]).toEqual(['out:one\n', 'err:one\n']);
      const s = (await berth().cri.runtime.ContainerStatus({ containerId: ctr.echoer })).status!;
      expect(s.state).toBe(1); // detaching never stops the container
      await until(async () => (await readFile(s.logPath!, 'utf8')).includes('stdout F out:one'), 'the log to have the line');
    });
  });

  describe('Attach with stdinOnce', () => {
    it('closes the container stdin when the attached client closes its stdin: cat ends, the container exits 0', async () => {
      const { ws, out, stdin } = await attach(ctr.once);
      stdin.write('last words\n');
      await poll(() => out.text.includes('last words'), 'cat to echo');
      stdin.end();
      await ended(ws); // the container exited: the session ends by itself
      expect(out.text).toBe('last words\ncat-done\n');
      const s = await until(async () => {
        const st = (await berth().cri.runtime.ContainerStatus({ containerId: ctr.once })).status!;
        return st.state === 2 ? st : undefined;
      }, 'the container to exit');
      expect(s.exitCode).toBe(0);
    });
  });

  describe('Attach to a TTY container', () => {
    it('applies the client terminal size to the container console and detaches without stopping it', async () => {
      const { ws, out: term, stdin } = await attach(ctr.term, true);
      // the resize and the keystrokes travel separately: ask until the shell answers with the new size
      await until(async () => {
        stdin.write('/bin/busybox stty size\n');
        await new Promise((r) => setTimeout(r, 200));
        return /\r?\n31 97\r?\n/.test(term.text);
      }, 'stty size to show the client size');
      ws.close();
      await ended(ws);
      expect((await berth().cri.runtime.ContainerStatus({ containerId: ctr.term })).status!.state).toBe(1);
    });
  });

  describe('PortForward through the CRI with client-node', () => {
    async function forward(port: number, request: string): Promise<{ data: string; error: string }> {
      const { url } = await berth().cri.runtime.PortForward({ podSandboxId: pod, port: [port] });
      const { kc, handler } = k8s(url);
      const data = new Collect();
      const error = new Collect();
      const input = new PassThrough();
      const ws = (await new PortForward(kc, true, handler).portForward('ns', 'pod', [port], data, error, input)) as unknown as WebSocket;
      input.write(request);
      await poll(() => data.text.includes('hello-from-pod') || error.text.length > 0, 'a reply from the pod');
      ws.close();
      await ended(ws);
      return { data: data.text, error: error.text };
    }

    it('reaches an httpd listening on 127.0.0.1 inside the pod network namespace, several at once, starting no process', async () => {
      await until(async () => (await processes(ctr.httpd)).includes('httpd'), 'httpd to run');
      const before = daemonChildren();
      const replies = await Promise.all([1, 2, 3].map(() => forward(HTTP_PORT, 'GET /index.html HTTP/1.0\r\n\r\n')));
      for (const r of replies) {
        expect(r.data).toMatch(/^HTTP\/1\.[01] 200 OK/);
        expect(r.data).toContain('hello-from-pod');
      }
      expect(daemonChildren()).toEqual(before);
    });

    it('closes the pod-side connection of a client that hangs up before the pod answers', async () => {
      const { url } = await berth().cri.runtime.PortForward({ podSandboxId: pod, port: [HTTP_PORT] });
      const { kc, handler } = k8s(url);
      const before = daemonChildren();
      const ws = (await new PortForward(kc, true, handler).portForward('ns', 'pod', [HTTP_PORT], new Collect(), new Collect(), new PassThrough())) as unknown as WebSocket;
      await until(async () => (await podConnections(HTTP_PORT)) === 1, 'the connection to reach httpd'); // httpd waits for a request
      expect(daemonChildren()).toEqual(before); // no helper process: the daemon holds the socket
      ws.close();
      await ended(ws);
      await until(async () => (await podConnections(HTTP_PORT)) === 0, 'the pod-side connection to close');
    });

    it('is in the pod network namespace, not the host one: a host-only listener is refused with the error text', async () => {
      const host = net.createServer((s) => s.end('from-host'));
      await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
      try {
        const port = (host.address() as net.AddressInfo).port;
        const r = await forward(port, 'x');
        expect(r.data).not.toContain('from-host');
        expect(r.error).toMatch(/ECONNREFUSED/);
      } finally {
        host.close();
      }
    });
  });

  describe('PortForward into a host-network pod', () => {
    it('dials the host loopback directly (no netns to enter)', async () => {
      const b = berth();
      const config = podConfig(b, 'hostnet', { linux: { securityContext: { namespaceOptions: { network: 2 /* NODE */ } } } });
      const hostPod = (await b.cri.runtime.RunPodSandbox({ config })).podSandboxId;
      try {
        const port = await new Promise<number>((resolve) => {
          const probe = net.createServer().listen(0, '127.0.0.1', () => {
            const p = (probe.address() as net.AddressInfo).port;
            probe.close(() => resolve(p));
          });
        });
        const { containerId } = await b.cri.runtime.CreateContainer({
          podSandboxId: hostPod, sandboxConfig: config,
          config: {
            metadata: { name: 'web' }, image: { image: LOCAL_BUSYBOX }, logPath: 'web.log',
            command: ['/bin/sh', '-c', `mkdir -p /www && echo hello-host-pod > /www/index.html && exec /bin/busybox httpd -f -p 127.0.0.1:${port} -h /www`],
          },
        });
        await b.cri.runtime.StartContainer({ containerId });
        await until(async () => (await processes(containerId)).includes('httpd'), 'httpd to run');
        const { url } = await b.cri.runtime.PortForward({ podSandboxId: hostPod, port: [port] });
        const { kc, handler } = k8s(url);
        const data = new Collect();
        const input = new PassThrough();
        const ws = (await new PortForward(kc, true, handler).portForward('ns', 'pod', [port], data, new Collect(), input)) as unknown as WebSocket;
        input.write('GET /index.html HTTP/1.0\r\n\r\n');
        await poll(() => data.text.includes('hello-host-pod'), 'the reply over the host loopback');
        ws.close();
        await ended(ws);
      } finally {
        await b.cri.runtime.StopPodSandbox({ podSandboxId: hostPod });
        await b.cri.runtime.RemovePodSandbox({ podSandboxId: hostPod });
      }
    });
  });

  describe('berthctl exec and port-forward', () => {
    /** Runs berthctl with `input` on stdin; resolves with its output and exit code. */
    async function berthctl(args: string[], input = ''): Promise<{ stdout: string; stderr: string; code: number | null }> {
      const ctl = await bundleEntry('cli/berthctl.ts');
      const child = spawn(process.execPath, [ctl, '--address', berth().address, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdin.end(input);
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
      return { stdout, stderr, code };
    }

    it('exec: stdout, stderr and the exit code of the command; -i passes stdin', async () => {
      const r = await berthctl(['exec', ctr.sleeper.slice(0, 12), '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 4']);
      expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 4 });
      const cat = await berthctl(['exec', '-i', ctr.sleeper, '--', '/bin/cat'], 'piped in\n');
      expect(cat).toEqual({ stdout: 'piped in\n', stderr: '', code: 0 });
      const gone = await berthctl(['exec', 'f00dbeef', '--', 'true']);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/not found/);
    });

    it('exec -it on a terminal (util-linux script gives it one): raw mode, the local size reaches the TTY', async () => {
      const ctl = await bundleEntry('cli/berthctl.ts');
      const inner = [process.execPath, ctl, '--address', berth().address, 'exec', '-it', ctr.sleeper, '--', '/bin/sh', '-c', '/bin/busybox stty size; sleep 0.3']
        .map((a) => `'${a}'`).join(' ');
      const { stdout } = await run('/usr/bin/script', ['-qec', `stty rows 22 cols 77; ${inner}`, '/dev/null'], { timeout: 60_000 });
      expect(stdout).toMatch(/^22 77\r?$/m);
    });

    it('attach -i: stdin to the container, its stdout and stderr to ours; SIGINT detaches', async () => {
      const ctl = await bundleEntry('cli/berthctl.ts');
      const child = spawn(process.execPath, [ctl, '--address', berth().address, 'attach', '-i', ctr.echoer], { stdio: ['pipe', 'pipe', 'pipe'] });
      try {
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
        // attached once the first line comes back: keep typing until then
        await until(async () => {
          child.stdin.write('via-berthctl\n');
          await new Promise((r) => setTimeout(r, 100));
          return out.includes('out:via-berthctl') && err.includes('err:via-berthctl');
        }, 'berthctl attach to echo');
        child.kill('SIGINT');
        await new Promise((r) => child.once('close', r));
        expect((await berth().cri.runtime.ContainerStatus({ containerId: ctr.echoer })).status!.state).toBe(1);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('port-forward: a local port reaches the httpd inside the pod', async () => {
      const ctl = await bundleEntry('cli/berthctl.ts');
      const child = spawn(process.execPath, [ctl, '--address', berth().address, 'port-forward', pod, `0:${HTTP_PORT}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
        const local = await until(() => /127\.0\.0\.1:(\d+) ->/.exec(out)?.[1], 'berthctl to listen');
        const reply = await new Promise<string>((resolve, reject) => {
          const s = net.connect(Number(local), '127.0.0.1', () => s.write('GET /index.html HTTP/1.0\r\n\r\n'));
          let text = '';
          s.on('data', (d: Buffer) => { text += d.toString(); });
          s.on('close', () => resolve(text));
          s.on('error', reject);
        });
        expect(reply).toMatch(/^HTTP\/1\.[01] 200 OK/);
        expect(reply).toContain('hello-from-pod');
      } finally {
        child.kill('SIGKILL');
      }
    });
  });

  describe('after the daemon restarts (runs last: it restarts the daemon)', () => {
    it('execs in and attaches to containers of the previous run (reloaded tasks, reopened FIFOs)', async () => {
      await berth().kill('SIGKILL');
      await berth().start();
      const r = await exec(['/bin/sh', '-c', 'echo again; exit 6']);
      expect(r.stdout).toBe('again\n');
      expect(r.status?.details?.causes?.[0]?.message).toBe('6');
      const { ws, out, stdin } = await attach(ctr.echoer);
      stdin.write('two\n');
      await poll(() => out.text.includes('out:two'), 'attach output after the restart');
      ws.close();
      await ended(ws);
    });
  });
});
