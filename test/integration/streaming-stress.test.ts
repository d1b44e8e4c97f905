// The streaming server under load: a 400 MB output and a paused (slow) reader with the server in
// its own process and its peak RSS measured, clients that vanish mid-stream, and the idle timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import readline from 'node:readline';
import WebSocket from 'ws';
import { bundleEntry } from '../helpers/bundle.js';
import { StreamingServer } from '../../cri/streaming/index.js';
import { HostProcessBackend } from '../helpers/host-backend.js';

const MB = 1024 * 1024;
/**
 * Peak-RSS growth the server may show while streaming (a correctness bound, not speed). Every
 * chunk read from the process is a new Buffer, and V8 collects Buffers only once they pass its
 * external-memory soft limit (64 MiB), so garbage alone reaches ~50-75 MiB on Node 24 whatever
 * the stream's length (73 MiB measured over 400 MB, 42-55 MiB over 100 MB). The streams are far
 * longer than the bound, so a server that held a stream, or what a paused reader did not take,
 * would pass it by hundreds of MB.
 */
const MEMORY_BOUND = 112 * MB;
const FAST_BYTES = 400 * MB;
const SLOW_BYTES = 300 * MB;

function procKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Runs an exec over WebSocket (v4), counting stdout bytes; `onData` may pause the socket. */
function wsExec(url: string, onData?: (total: number, ws: WebSocket) => void): Promise<{ bytes: number; status: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v4.channel.k8s.io']);
    let bytes = 0;
    let status = '';
    ws.on('message', (d: Buffer) => {
      if (d[0] === 1) { bytes += d.length - 1; onData?.(bytes, ws); }
      if (d[0] === 3) status += d.subarray(1).toString();
    });
    ws.on('close', () => resolve({ bytes, status }));
    ws.on('error', reject);
  });
}

describe('a server process streaming 400 MB', () => {
  let child: ChildProcess;
  let baseUrl = '';
  const pending = new Map<number, (v: { url?: string; error?: string }) => void>();
  let nextId = 1;

  beforeAll(async () => {
    const entry = await bundleEntry('test/helpers/host-server-main.ts');
    child = spawn(process.execPath, [entry], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = readline.createInterface({ input: child.stdout! });
    baseUrl = await new Promise<string>((resolve) => {
      rl.on('line', (line) => {
        const msg = JSON.parse(line) as { baseUrl?: string; id?: number; url?: string; error?: string };
        if (msg.baseUrl) resolve(msg.baseUrl);
        else pending.get(msg.id!)?.(msg);
      });
    });
  });
  afterAll(async () => {
    child.stdin!.end();
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  });

  function execUrl(cmd: string[]): Promise<string> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, (m) => (m.url ? resolve(m.url) : reject(new Error(m.error))));
      child.stdin!.write(`${JSON.stringify({ id, exec: { containerId: 'c', cmd, stdout: true, stderr: true } })}\n`);
    });
  }

  it('delivers every byte with bounded server memory, also to a reader that pauses', async () => {
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await wsExec(await execUrl(['echo', 'warm-up']));
    const baseline = procKb(child.pid!, 'VmRSS');

    const fast = await wsExec(await execUrl(['head', '-c', String(FAST_BYTES), '/dev/zero']));
    expect(fast.bytes).toBe(FAST_BYTES);
    expect(JSON.parse(fast.status)).toEqual({ metadata: {}, status: 'Success' });

    // Slow reader: stop reading after 1 MB until the server stopped sending, then resume.
    let paused = false;
    let rssWhilePaused = 0;
    const slow = await wsExec(await execUrl(['head', '-c', String(SLOW_BYTES), '/dev/zero']), (total, ws) => {
      if (paused || total < MB) return;
      paused = true;
      ws.pause();
      void (async () => {
        // the producer blocks once kernel and server buffers are full; sample while it does
        for (let i = 0; i < 10; i++) {
          await new Promise((r) => setTimeout(r, 50));
          rssWhilePaused = Math.max(rssWhilePaused, procKb(child.pid!, 'VmRSS'));
        }
        ws.resume();
      })();
    });
    expect(slow.bytes).toBe(SLOW_BYTES);
    expect(paused).toBe(true);
    expect(rssWhilePaused - baseline).toBeLessThan(MEMORY_BOUND);
    expect(procKb(child.pid!, 'VmHWM') - baseline).toBeLessThan(MEMORY_BOUND);
  });
});

describe('clients that go away', () => {
  const backend = new HostProcessBackend();
  let server: StreamingServer;
  let idleServer: StreamingServer;
  beforeAll(async () => {
    server = await StreamingServer.start({ backend });
    idleServer = await StreamingServer.start({ backend, idleTimeoutMs: 300 });
  });
  afterAll(async () => {
    await server.close();
    await idleServer.close();
    backend.close();
  });

  async function gone(pid: number): Promise<void> {
    for (let i = 0; i < 500 && existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a client that disconnects mid-stream gets its exec killed and its session released', async () => {
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['sh', '-c', 'echo $$; exec yes'], stdin: true, stdout: true, stderr: true });
    let pid = 0;
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, ['v4.channel.k8s.io']);
      ws.on('message', (d: Buffer) => {
        if (d[0] !== 1 || d.length < 2 || pid) return;
        pid = Number(d.subarray(1).toString().split('\n')[0]);
        ws.terminate(); // no close handshake: the TCP connection just drops
        resolve();
      });
      ws.on('error', reject);
    });
    expect(pid).toBeGreaterThan(0);
    await gone(pid);
    expect(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')).toBe(false);
    for (let i = 0; i < 100 && server.activeSessions > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.activeSessions).toBe(0);
  });

  it('closes a connection that stays idle past stream_idle_timeout and ends its exec', async () => {
    const { url } = idleServer.getExecUrl({ containerId: 'c', cmd: ['sh', '-c', 'echo $$; exec sleep 1000'], stdin: true, stdout: true });
    let pid = 0;
    const closed = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url, ['v4.channel.k8s.io']);
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1 && d.length > 1 && !pid) pid = Number(d.subarray(1).toString().trim());
      });
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });
    expect(closed).toBe(1006); // dropped by the server, no close frame
    expect(pid).toBeGreaterThan(0);
    await gone(pid);
    expect(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')).toBe(false);
  });
});
