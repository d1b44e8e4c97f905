// Exec/attach over WebSocket (channel.k8s.io family). Every message is one channel byte plus
// data (base64 variants: an ASCII digit plus base64 text). Channels: 0 stdin, 1 stdout,
// 2 stderr, 3 error, 4 resize; v5 adds 255 = "close channel <next byte>".
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/index.js';
import { InputChannel, OutputChannel, PauseGate } from './channels.js';
import { isBase64, isV4 } from './protocols.js';
import { ResizeQueue } from './resize-queue.js';
import { runSession, type SessionChannels } from './session.js';
import type { SessionRequest, StreamingBackend } from './types.js';

export const CH_STDIN = 0;
export const CH_STDOUT = 1;
export const CH_STDERR = 2;
export const CH_ERROR = 3;
export const CH_RESIZE = 4;
export const CH_CLOSE = 255;

/** One preallocated one-byte buffer per channel number (never written to). */
const CHANNEL_BYTES = Array.from({ length: 256 }, (_, i) => Buffer.of(i));

/** Frames and unframes messages for one negotiated WebSocket protocol. */
export class WsFraming {
  readonly base64: boolean;
  constructor(readonly ws: WebSocket, protocol: string) {
    this.base64 = isBase64(protocol);
  }
  send(channel: number, data: Buffer, done?: (err?: Error | null) => void): void {
    const cb = (err?: Error | null) => done?.(err ?? null);
    if (this.ws.readyState !== this.ws.OPEN) { cb(new Error('websocket closed')); return; }
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), cb);
    else {
      // The channel byte and the data go out as two fragments of one message (RFC 6455 5.4), so
      // no framed copy of every chunk is made: the copies were garbage that Node 24's GC let pile
      // up to 75 MB over a 100 MB stream (docs/streaming.md, "Memory bounds").
      this.ws.send(CHANNEL_BYTES[channel]!, { binary: true, fin: false });
      this.ws.send(data, { binary: true, fin: true }, cb);
    }
  }
  sendAsync(channel: number, data: Buffer): Promise<void> {
    return new Promise((resolve) => this.send(channel, data, () => resolve()));
  }
  /** Splits a received message into channel and payload; undefined for an empty/garbled one. */
  decode(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): { channel: number; data: Buffer } | undefined {
    const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (buf.length === 0) return undefined;
    if (this.base64 && !isBinary) {
      const channel = buf[0]! - 48;
      return { channel, data: Buffer.from(buf.subarray(1).toString(), 'base64') };
    }
    return { channel: buf[0]!, data: buf.subarray(1) };
  }
  close(code = 1000): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
  }
}

/** How often a connection that stopped reading checks that its client is still there. */
const PAUSED_PROBE_MS = 1000;

/**
 * The switch that pauses reading a WebSocket connection while an input channel is full. A paused
 * socket reads nothing and would never see the client leave: while paused, a ping every
 * PAUSED_PROBE_MS makes a gone client's RST surface as a write error (and the connection close).
 * (A client that pings and never reads our pongs is ws's own case: it drops the connection at
 * 60 pongs pending, maxPendingAutoPongs.)
 */
export function wsReadGate(ws: WebSocket): PauseGate {
  let probe: NodeJS.Timeout | undefined;
  const gate = new PauseGate((paused) => {
    clearInterval(probe);
    probe = undefined;
    if (paused) {
      ws.pause();
      probe = setInterval(() => { if (ws.readyState === ws.OPEN) ws.ping(); }, PAUSED_PROBE_MS);
      probe.unref();
    } else {
      ws.resume();
    }
  });
  ws.once('close', () => clearInterval(probe));
  return gate;
}

export async function serveWsSession(opts: {
  ws: WebSocket;
  protocol: string;
  request: SessionRequest;
  backend: StreamingBackend;
  gate: PauseGate;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { ws, request } = opts;
  const framing = new WsFraming(ws, opts.protocol);
  const stdin = request.stdin ? new InputChannel(opts.gate.holder()) : undefined;
  const stdout = request.stdout ? new OutputChannel((c, d) => framing.send(CH_STDOUT, c, d)) : undefined;
  const stderr = request.stderr && !request.tty ? new OutputChannel((c, d) => framing.send(CH_STDERR, c, d)) : undefined;
  const resize = request.tty ? new ResizeQueue() : undefined;

  ws.on('message', (raw, isBinary) => {
    const msg = framing.decode(raw, isBinary);
    if (!msg) return;
    if (msg.channel === CH_STDIN) stdin?.deliver(msg.data);
    else if (msg.channel === CH_RESIZE) resize?.write(msg.data);
    else if (msg.channel === CH_CLOSE && msg.data[0] === CH_STDIN) stdin?.finish();
  });
  ws.on('close', () => stdin?.finish());

  // kubelet announces the session with an empty message on the first writable channel.
  const first = stdout ? CH_STDOUT : stderr ? CH_STDERR : CH_ERROR;
  await framing.sendAsync(first, Buffer.alloc(0));

  const channels: SessionChannels = {
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    ...(resize ? { resize } : {}),
    finishError: async (payload) => {
      if (payload !== undefined) await framing.sendAsync(CH_ERROR, Buffer.from(payload));
    },
  };
  try {
    await runSession({ backend: opts.backend, request, channels, signal: opts.signal, v4: isV4(opts.protocol), log: opts.log });
  } finally {
    framing.close();
  }
}
