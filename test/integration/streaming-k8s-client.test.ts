// @kubernetes/client-node's Exec, Attach and PortForward (real third-party WebSocket clients)
// against berth's streaming server, wired to a backend that runs real host processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import type { V1Status } from '@kubernetes/client-node';
import { Code } from '../../common/index.js';
import { StreamingServer } from '../../cri/streaming/index.js';
import { HostProcessBackend } from '../helpers/host-backend.js';

import { Attach, Exec, KubeConfig, PortForward } from '@kubernetes/client-node';
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';

let server: StreamingServer;
const backend = new HostProcessBackend();

beforeAll(async () => {
  server = await StreamingServer.start({ backend });
});
afterAll(async () => {
  await server.close();
  backend.close();
});

/** A KubeConfig + handler that sends the client's request to our URL instead of an API server. */
function clientFor(url: string) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: server.baseUrl, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const handler = new WebSocketHandler(kc, (_uri: string, protocols: string[], opts: WebSocket.ClientOptions) => new WebSocket(url, protocols, opts));
  return { kc, handler };
}

class Sink extends Writable {
  chunks: Buffer[] = [];
  override _write(c: Buffer, _e: BufferEncoding, done: () => void) { this.chunks.push(c); done(); }
  get text() { return Buffer.concat(this.chunks).toString(); }
}

class TtySink extends Sink {
  columns = 123;
  rows = 45;
}

async function k8sExec(cmd: string[], opts: { stdin?: Readable; tty?: boolean; stdout?: Sink; stderr?: boolean } = {}) {
  const tty = opts.tty ?? false;
  const wantStderr = opts.stderr ?? !tty;
  const { url } = server.getExecUrl({ containerId: 'ctr', cmd, tty, stdin: !!opts.stdin, stdout: true, stderr: wantStderr });
  const { kc, handler } = clientFor(url);
  const stdout = opts.stdout ?? new Sink();
  const stderr = wantStderr ? new Sink() : null;
  let status: V1Status | undefined;
  const ws = await new Exec(kc, handler).exec('ns', 'pod', 'ctr', cmd, stdout, stderr, opts.stdin ?? null, tty, (s) => { status = s; });
  await closed(ws as unknown as WebSocket);
  return { stdout: stdout.text, stderr: stderr?.text, status, protocol: (ws as unknown as WebSocket).protocol };
}

describe('Exec over WebSocket with client-node', () => {
  it('separates stdout and stderr and reports Success', async () => {
    const r = await k8sExec(['sh', '-c', 'echo out; echo err >&2']);
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
  });

  it('reports a non-zero exit code as NonZeroExitCode with an ExitCode cause', async () => {
    const r = await k8sExec(['sh', '-c', 'echo bye; exit 3']);
    expect(r.stdout).toBe('bye\n');
    expect(r.status?.status).toBe('Failure');
    expect(r.status?.reason).toBe('NonZeroExitCode');
    expect(r.status?.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '3' });
  });

  it('echoes stdin through cat and closes stdin with the v5 close channel', async () => {
    const r = await k8sExec(['cat'], { stdin: Readable.from([Buffer.from('hello\n'), Buffer.from('world\n')]) });
    expect(r.stdout).toBe('hello\nworld\n');
    expect(r.status?.status).toBe('Success');
  });

  it('reports a command that cannot start as an InternalError status', async () => {
    const r = await k8sExec(['/nonexistent/binary-xyz']);
    expect(r.status?.status).toBe('Failure');
    expect(r.status?.reason).toBe('InternalError');
    expect(r.status?.code).toBe(500);
  });

  it('applies the client terminal size on a TTY (visible to stty size)', async () => {
    const stdin = new PassThrough();
    const stdout = new TtySink();
    // send input only once the shell is running, so the resize sent at connect came first
    const origWrite = stdout._write.bind(stdout);
    stdout._write = (c, e, done) => {
      origWrite(c, e, done);
      if (stdout.text.includes('ready') && !stdin.writableEnded) stdin.end('go\n');
    };
    const r = await k8sExec(['sh', '-c', 'echo ready; read x; stty size'], { tty: true, stdin, stdout });
    expect(r.stdout).toContain('45 123');
    expect(r.status?.status).toBe('Success');
  });

  it('runs 20 execs concurrently, each with its own output', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => k8sExec(['sh', '-c', `echo n$0; exit $(($0 % 3))`, String(i)])));
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`n${i}\n`);
      if (i % 3 === 0) expect(r.status?.status).toBe('Success');
      else expect(r.status?.details?.causes?.[0]?.message).toBe(String(i % 3));
    });
    expect(server.activeSessions).toBe(0);
  });
});

describe('Attach over WebSocket with client-node', () => {
  it('joins a running process: stdin in, stdout out', async () => {
    const child = backend.startContainer('attach-ctr', ['sh', '-c', 'while read l; do echo got:$l; done']);
    const { url } = server.getAttachUrl({ containerId: 'attach-ctr', stdin: true, stdout: true, stderr: true });
    const { kc, handler } = clientFor(url);
    const stdout = new Sink();
    const stdin = new PassThrough();
    const ws = (await new Attach(kc, handler).attach('ns', 'pod', 'attach-ctr', stdout, new Sink(), stdin, false)) as unknown as WebSocket;
    stdin.write('one\n');
    await waitFor(() => stdout.text.includes('got:one'));
    ws.close();
    await closed(ws);
    expect(stdout.text).toBe('got:one\n');
    child.kill('SIGKILL');
  });
});

describe('PortForward over WebSocket with client-node', () => {
  let httpServer: http.Server;
  let port: number;
  beforeAll(async () => {
    httpServer = http.createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    port = (httpServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
  });

  async function forwardOnce(path: string): Promise<string> {
    const { url } = server.getPortForwardUrl({ podSandboxId: 'pod-1', port: [port] });
    const { kc, handler } = clientFor(url);
    const output = new Sink();
    const input = new PassThrough();
    const ws = (await new PortForward(kc, true, handler).portForward('ns', 'pod', [port], output, null, input)) as unknown as WebSocket;
    input.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
    await waitFor(() => output.text.includes(`hello from ${path}`));
    ws.close();
    await closed(ws);
    return output.text;
  }

  it('forwards an HTTP request to a TCP server, several connections at once', async () => {
    const texts = await Promise.all(['/a', '/b', '/c'].map(forwardOnce));
    expect(texts[0]).toMatch(/^HTTP\/1\.[01] 200 OK/);
    texts.forEach((t, i) => expect(t).toContain(`hello from /${'abc'[i]}`));
  });
});

describe('older WebSocket protocols (raw ws client)', () => {
  function rawExec(protocol: string, cmd: string[]): Promise<{ protocol: string; messages: (string | Buffer)[] }> {
    const { url } = server.getExecUrl({ containerId: 'c', cmd, stdout: true, stderr: true });
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, [protocol]);
      const messages: (string | Buffer)[] = [];
      ws.on('message', (d: Buffer, isBinary) => messages.push(isBinary ? d : d.toString()));
      ws.on('close', () => resolve({ protocol: ws.protocol, messages }));
      ws.on('error', reject);
    });
  }

  it('base64.channel.k8s.io: ASCII channel digits and base64 payloads, error text on failure', async () => {
    const r = await rawExec('base64.channel.k8s.io', ['sh', '-c', 'printf out; exit 4']);
    expect(r.protocol).toBe('base64.channel.k8s.io');
    expect(r.messages[0]).toBe('1'); // the empty announcement on stdout
    expect(r.messages).toContain(`1${Buffer.from('out').toString('base64')}`);
    const err = r.messages.find((m) => typeof m === 'string' && m.startsWith('3')) as string;
    expect(Buffer.from(err.slice(1), 'base64').toString()).toMatch(/non-zero exit code: exit status 4/);
  });

  it('v4.base64.channel.k8s.io carries the JSON Status', async () => {
    const r = await rawExec('v4.base64.channel.k8s.io', ['true']);
    const err = r.messages.find((m) => typeof m === 'string' && m.startsWith('3')) as string;
    expect(JSON.parse(Buffer.from(err.slice(1), 'base64').toString())).toEqual({ metadata: {}, status: 'Success' });
  });

  it('channel.k8s.io (v1) writes nothing on the error channel on success', async () => {
    const r = await rawExec('channel.k8s.io', ['echo', 'x']);
    const bufs = r.messages.filter((m): m is Buffer => Buffer.isBuffer(m));
    expect(bufs.map((b) => b[0])).not.toContain(3);
    expect(Buffer.concat(bufs.filter((b) => b[0] === 1).map((b) => b.subarray(1))).toString()).toBe('x\n');
  });
});

describe('tokens and validation', () => {
  it('answers 404 to unknown and used tokens, for plain GETs and upgrades', async () => {
    expect((await fetch(`${server.baseUrl}/exec/AAAAAAAA`)).status).toBe(404);
    expect((await fetch(`${server.baseUrl}/nope`)).status).toBe(404);
    const { url } = server.getExecUrl({ containerId: 'c', cmd: ['true'], stdout: true });
    expect(url).toMatch(/\/exec\/[A-Za-z0-9_-]{8}$/);
    expect((await fetch(url)).status).toBe(400); // valid token, no upgrade: consumed
    expect((await fetch(url)).status).toBe(404);
    const { url: url2 } = server.getExecUrl({ containerId: 'c', cmd: ['true'], stdout: true });
    const attachPath = url2.replace('/exec/', '/attach/');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(attachPath, ['v4.channel.k8s.io']);
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });

  it('survives garbage request targets and upgrades (404, server keeps serving)', async () => {
    const u = new URL(server.baseUrl);
    for (const target of ['http://[', '/exec/../../etc', '/exec/' + 'A'.repeat(5000)]) {
      const reply = await new Promise<string>((resolve) => {
        const s = net.connect(Number(u.port), u.hostname, () => {
          s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
        });
        let text = '';
        s.on('data', (d) => { text += d.toString(); });
        s.on('close', () => resolve(text));
        s.on('error', () => resolve(text));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 (400|404)/);
    }
    const r = await k8sExec(['echo', 'still here']);
    expect(r.stdout).toBe('still here\n');
  });

  it('rejects bad requests with InvalidArgument', () => {
    const bad = (f: () => unknown) => {
      try { f(); } catch (e) { return (e as { code?: number }).code; }
      return 'no error';
    };
    expect(bad(() => server.getExecUrl({ containerId: 'c', cmd: ['sh'], tty: true, stdout: true, stderr: true }))).toBe(Code.INVALID_ARGUMENT);
    expect(bad(() => server.getExecUrl({ containerId: 'c', cmd: ['sh'] }))).toBe(Code.INVALID_ARGUMENT);
    expect(bad(() => server.getExecUrl({ containerId: 'c', cmd: [], stdout: true }))).toBe(Code.INVALID_ARGUMENT);
    expect(bad(() => server.getAttachUrl({ containerId: '', stdout: true }))).toBe(Code.INVALID_ARGUMENT);
    expect(bad(() => server.getPortForwardUrl({ port: [80] }))).toBe(Code.INVALID_ARGUMENT);
    expect(bad(() => server.getPortForwardUrl({ podSandboxId: 'p', port: [70000] }))).toBe(Code.INVALID_ARGUMENT);
  });
});

function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
