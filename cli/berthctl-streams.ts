// berthctl's streaming clients: the URL from Exec/Attach/PortForward spoken over WebSocket
// (docs/streaming.md), with this terminal's stdio or local TCP ports at the other end.
import net from 'node:net';
import WebSocket from 'ws';
import { toStatus } from '../common/index.js';
import type { CriClients } from '../proto/cri.js';

// v5/v4.channel.k8s.io: one channel byte, then data; 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize.
const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Runs an exec/attach session on this terminal; resolves with the exit code to leave with. */
export function stdioSession(url: string, o: { stdin: boolean; tty: boolean }): Promise<number> {
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
export async function portForward(c: CriClients, pod: string, specs: string[]): Promise<void> {
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
