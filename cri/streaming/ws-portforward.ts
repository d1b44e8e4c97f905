// Port forward over WebSocket: for the i-th requested port, channel 2i carries data and 2i+1
// errors; the server's first message on each channel is the port, 2 bytes little-endian. One
// WebSocket is one TCP connection per port; the socket closes when every connection ended.
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/index.js';
import { toStatus } from '../../common/index.js';
import { ForwardChannel, type PauseGate } from './channels.js';
import { WsFraming } from './ws-session.js';
import type { StreamingBackend } from './types.js';

export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

export function forwardErrorText(port: number, podSandboxId: string, err: unknown): string {
  return `error forwarding port ${port} to pod ${podSandboxId}, uid : ${toStatus(err).message}`;
}

export async function serveWsPortForward(opts: {
  ws: WebSocket;
  protocol: string;
  podSandboxId: string;
  ports: number[];
  backend: StreamingBackend;
  gate: PauseGate;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { ws, ports, podSandboxId } = opts;
  const framing = new WsFraming(ws, opts.protocol);
  const conns = ports.map((port, i) => new ForwardChannel((c, d) => framing.send(2 * i, c, d), opts.gate.holder()));

  ws.on('message', (raw, isBinary) => {
    const msg = framing.decode(raw, isBinary);
    if (!msg || msg.channel % 2 === 1) return;
    conns[msg.channel / 2]?.deliver(msg.data);
  });
  ws.on('close', () => {
    for (const c of conns) c.finish();
  });

  await Promise.all(ports.flatMap((port, i) => [framing.sendAsync(2 * i, portPrefix(port)), framing.sendAsync(2 * i + 1, portPrefix(port))]));
  try {
    await Promise.all(ports.map(async (port, i) => {
      const stream = conns[i]!;
      try {
        await opts.backend.portForward({ podSandboxId, port, stream, signal: opts.signal });
      } catch (err) {
        opts.log.warn({ err, port, podSandboxId }, 'port forward failed');
        await framing.sendAsync(2 * i + 1, Buffer.from(forwardErrorText(port, podSandboxId, err)));
      }
    }));
  } finally {
    framing.close();
  }
}
