// The SPDY/3.1 side of the server: protocol negotiation on the HTTP upgrade, then either an
// exec/attach session (one SPDY stream per channel, named by the `streamType` header) or a
// port-forward session (data/error stream pairs named by `port` and `requestID`).
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../common/index.js';
import { toStatus } from '../../common/index.js';
import { SPDY_EXEC_PROTOCOLS, SPDY_PORT_FORWARD_PROTOCOLS, isV4, negotiate, splitHeaderList } from './protocols.js';
import { ResizeQueue } from './resize-queue.js';
import { runSession } from './session.js';
import { SpdySession, type SpdyStream } from './spdy-session.js';
import type { CachedRequest, SessionRequest, StreamingBackend } from './types.js';
import { forwardErrorText } from './ws-portforward.js';

/** Writes a plain HTTP error response on an upgrade socket and closes it. */
export function rejectUpgrade(socket: Socket, status: number, reason: string, headers: Record<string, string>, body: string): void {
  const lines = [`HTTP/1.1 ${status} ${reason}`, 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (socket.writable) socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  socket.destroy();
}

export interface SpdyUpgradeOptions {
  req: http.IncomingMessage;
  socket: Socket;
  head: Buffer;
  cached: CachedRequest;
  backend: StreamingBackend;
  signal: AbortSignal;
  log: Logger;
  streamCreationTimeoutMs: number;
  /** Streams a port-forward session may have open at once (two per forwarded connection). */
  maxStreams: number;
}

export async function serveSpdyUpgrade(opts: SpdyUpgradeOptions): Promise<void> {
  const { req, socket, cached } = opts;
  const supported = cached.kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_EXEC_PROTOCOLS;
  const offered = splitHeaderList(req.headers['x-stream-protocol-version']);
  if (offered.length === 0) {
    rejectUpgrade(socket, 400, 'Bad Request', {}, 'missing X-Stream-Protocol-Version header\n');
    return;
  }
  const protocol = negotiate(offered, supported);
  if (!protocol) {
    rejectUpgrade(socket, 403, 'Forbidden', { 'X-Accepted-Stream-Protocol-Versions': supported.join(', ') },
      `none of the requested protocols (${offered.join(', ')}) are supported\n`);
    return;
  }
  socket.write(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    `X-Stream-Protocol-Version: ${protocol}`, '', ''].join('\r\n'));
  socket.setNoDelay(true);
  // An exec/attach session has a fixed set of streams; port-forward two per connection.
  const want = cached.kind === 'portforward' ? undefined : expectedStreams(cached, protocol);
  const session = new SpdySession(socket, { isServer: true, log: opts.log, maxStreams: want?.size ?? opts.maxStreams });
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  opts.signal.addEventListener('abort', () => session.close(), { once: true });
  try {
    if (cached.kind === 'portforward') {
      servePortForward(session, cached.podSandboxId, opts);
      session.feed(opts.head);
      await closed;
    } else {
      const streams = waitForStreams(session, want!, opts.streamCreationTimeoutMs);
      session.feed(opts.head);
      await serveExec(session, await streams, cached, protocol, opts);
    }
  } finally {
    session.close();
  }
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

function expectedStreams(req: SessionRequest, protocol: string): Set<StreamType> {
  const want = new Set<StreamType>(['error']);
  if (req.stdin) want.add('stdin');
  if (req.stdout) want.add('stdout');
  if (req.stderr && !req.tty) want.add('stderr');
  if (req.tty && (protocol.startsWith('v3.') || protocol.startsWith('v4.'))) want.add('resize');
  return want;
}

/** Collects one stream per expected type; replies to each; rejects after the timeout. */
function waitForStreams(session: SpdySession, want: Set<StreamType>, timeoutMs: number): Promise<Map<StreamType, SpdyStream>> {
  return new Promise((resolve, reject) => {
    const got = new Map<StreamType, SpdyStream>();
    const replies: Promise<void>[] = [];
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for client to create streams (got ${[...got.keys()].join(', ') || 'none'})`));
    }, timeoutMs);
    const onClose = () => { cleanup(); reject(new Error('connection closed before all streams were created')); };
    const onStream = (stream: SpdyStream) => {
      const type = (stream.headers.streamtype ?? '') as StreamType;
      if (!want.has(type) || got.has(type)) {
        session.reset(stream);
        return;
      }
      got.set(type, stream);
      replies.push(session.reply(stream));
      if (got.size === want.size) {
        cleanup();
        // every SYN_REPLY goes out before the first DATA frame of the session
        Promise.all(replies).then(() => resolve(got), reject);
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
    };
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

async function serveExec(session: SpdySession, streams: Map<StreamType, SpdyStream>, request: SessionRequest, protocol: string, opts: SpdyUpgradeOptions): Promise<void> {
  const error = streams.get('error')!;
  const resizeStream = streams.get('resize');
  const resize = resizeStream ? new ResizeQueue() : undefined;
  resizeStream?.on('data', (c: Buffer) => resize!.write(c));
  const stdin = streams.get('stdin');
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  // Nobody reads what a client sends on an output stream: dropped, so it cannot stall the session.
  for (const s of [error, stdout, stderr]) s?.resume();
  await runSession({
    backend: opts.backend, request, signal: opts.signal, v4: isV4(protocol), log: opts.log,
    channels: {
      ...(stdin ? { stdin } : {}),
      ...(stdout ? { stdout } : {}),
      ...(stderr ? { stderr } : {}),
      ...(resize ? { resize } : {}),
      finishError: (payload) => new Promise<void>((resolve) => {
        if (payload !== undefined) error.write(payload);
        error.end(() => resolve());
      }),
    },
  });
  stdin?.destroy();
  resizeStream?.destroy();
  void session;
}

/**
 * Pairs data and error streams by requestID and runs one backend forward per pair. A half whose
 * partner does not come within the stream creation timeout is reset (kubelet drops it the same
 * way), so unpaired streams cannot pile up; the session's stream cap bounds the rest.
 */
function servePortForward(session: SpdySession, podSandboxId: string, opts: SpdyUpgradeOptions): void {
  const pending = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  session.once('close', () => {
    for (const p of pending.values()) clearTimeout(p.timer);
    pending.clear();
  });
  session.on('stream', (stream) => {
    const type = stream.headers.streamtype;
    const port = Number(stream.headers.port);
    const requestId = stream.headers.requestid ?? '';
    if ((type !== 'data' && type !== 'error') || !Number.isInteger(port) || port < 1 || port > 65535) {
      session.reset(stream);
      return;
    }
    const replied = session.reply(stream);
    replied.catch(() => undefined); // awaited below once paired
    let pair = pending.get(requestId);
    if (pair?.[type]) { session.reset(stream); return; }
    if (!pair) {
      const timer = setTimeout(() => {
        pending.delete(requestId);
        for (const s of [pair!.data, pair!.error]) if (s) session.reset(s);
      }, opts.streamCreationTimeoutMs);
      timer.unref();
      pair = { timer };
      pending.set(requestId, pair);
    }
    pair[type] = stream;
    if (!pair.data || !pair.error) return;
    clearTimeout(pair.timer);
    pending.delete(requestId);
    const { data, error } = pair;
    error.resume(); // the client never sends on it; whatever it sends is dropped
    void (async () => {
      try {
        await replied;
        await opts.backend.portForward({ podSandboxId, port, stream: data, signal: opts.signal });
      } catch (err) {
        opts.log.warn({ err, port, podSandboxId }, 'port forward failed');
        error.write(forwardErrorText(port, podSandboxId, toStatus(err).message));
      }
      error.end();
      if (!data.writableEnded) data.end();
    })();
  });
}
