// The streaming HTTP server: hands out single-use URLs for validated CRI Exec/Attach/PortForward
// requests and serves them over WebSocket or SPDY/3.1 upgrades.
//
//   CRI call -> validate -> token cache -> { url }   ...   client GET /<kind>/<token> + Upgrade
//     -> token consumed (404 if unknown/used/expired) -> protocol negotiated -> backend session
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { silentLogger, type Logger } from '../../common/index.js';
import { WS_EXEC_PROTOCOLS, WS_PORT_FORWARD_PROTOCOLS, negotiate } from './protocols.js';
import { rejectUpgrade, serveSpdyUpgrade } from './spdy-upgrade.js';
import { TokenCache } from './token-cache.js';
import type { CachedRequest, CriAttachRequest, CriExecRequest, CriPortForwardRequest, StreamingBackend } from './types.js';
import { validateAttach, validateExec, validatePortForward } from './validate.js';
import { serveWsPortForward } from './ws-portforward.js';
import { serveWsSession, wsReadGate } from './ws-session.js';

export interface StreamingServerOptions {
  backend: StreamingBackend;
  /** stream_server_address; default 127.0.0.1. */
  address?: string;
  /** stream_server_port; default 0 (a free port). */
  port?: number;
  /** Host written into URLs when `address` is a wildcard; default: `address`. */
  advertiseAddress?: string;
  /** stream_idle_timeout: a connection with no traffic for this long is closed; default 4 h. */
  idleTimeoutMs?: number;
  /** SPDY clients must open every expected stream within this time; default 30 s. */
  streamCreationTimeoutMs?: number;
  tokenTtlMs?: number;
  maxInFlight?: number;
  /** Streaming connections served at once; an upgrade past it gets 429 (default 256). */
  maxSessions?: number;
  /** Connections one port-forward session may forward at once (SPDY pairs, WebSocket ports; default 64). */
  maxForwards?: number;
  log?: Logger;
}

export const DEFAULT_MAX_SESSIONS = 256;
export const DEFAULT_MAX_FORWARDS = 64;
/**
 * Largest WebSocket message accepted: clients send stdin and forwarded bytes in chunks of a read
 * (32-64 KiB); one message is held whole before it is handled.
 */
export const MAX_WS_MESSAGE = 1024 * 1024;

/** How long a connection whose session ended may take to close before it is destroyed. */
const SOCKET_CLOSE_GRACE_MS = 5000;

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})$/;

export class StreamingServer {
  readonly #http: http.Server;
  readonly #wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, maxPayload: MAX_WS_MESSAGE,
    // ws asks only when the client offered protocols; the route decides which we speak.
    handleProtocols: (offered: Set<string>, req: http.IncomingMessage) => negotiate([...offered], wsProtocolsFor(req.url)) ?? false,
  });
  readonly #tokens: TokenCache<CachedRequest>;
  readonly #opts: Required<Pick<StreamingServerOptions, 'idleTimeoutMs' | 'streamCreationTimeoutMs' | 'maxSessions' | 'maxForwards'>>
    & StreamingServerOptions;
  readonly #log: Logger;
  readonly #live = new Set<{ abort: () => void; done: Promise<void> }>();
  #baseUrl = '';

  private constructor(opts: StreamingServerOptions) {
    this.#opts = {
      idleTimeoutMs: 4 * 3600_000, streamCreationTimeoutMs: 30_000, maxSessions: DEFAULT_MAX_SESSIONS, maxForwards: DEFAULT_MAX_FORWARDS, ...opts,
    };
    this.#log = (opts.log ?? silentLogger).child({ component: 'streaming' });
    this.#tokens = new TokenCache({
      ...(opts.tokenTtlMs !== undefined ? { ttlMs: opts.tokenTtlMs } : {}),
      ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
    });
    this.#http = http.createServer((req, res) => this.#onPlainRequest(req, res));
    this.#http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket as Socket, head));
    this.#http.on('clientError', (_err, socket: Duplex) => socket.destroy());
  }

  static async start(opts: StreamingServerOptions): Promise<StreamingServer> {
    const s = new StreamingServer(opts);
    const address = opts.address ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      s.#http.once('error', reject);
      s.#http.listen(opts.port ?? 0, address, () => {
        s.#http.off('error', reject);
        resolve();
      });
    });
    const { port } = s.#http.address() as AddressInfo;
    const host = opts.advertiseAddress ?? address;
    s.#baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return s;
  }

  /** e.g. http://127.0.0.1:41234 */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** Number of connections currently streaming. */
  get activeSessions(): number {
    return this.#live.size;
  }

  /** Validates a CRI ExecRequest and returns the URL the client must connect to. */
  getExecUrl(req: CriExecRequest): { url: string } {
    return this.#url(validateExec(req));
  }

  getAttachUrl(req: CriAttachRequest): { url: string } {
    return this.#url(validateAttach(req));
  }

  getPortForwardUrl(req: CriPortForwardRequest): { url: string } {
    return this.#url(validatePortForward(req, this.#opts.maxForwards));
  }

  /** Stops listening, ends every live session (aborting its backend call) and waits for them. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    const live = [...this.#live];
    for (const s of live) s.abort();
    await Promise.all(live.map((s) => s.done));
    this.#http.closeAllConnections();
    this.#wss.close();
    await closed;
  }

  #url(req: CachedRequest): { url: string } {
    const token = this.#tokens.insert(req);
    return { url: `${this.#baseUrl}/${req.kind}/${token}` };
  }

  #lookup(rawUrl: string | undefined): CachedRequest | undefined {
    let path: string;
    try {
      path = new URL(rawUrl ?? '/', 'http://x').pathname;
    } catch {
      return undefined; // an unparsable request target is just an unknown URL
    }
    const m = ROUTE.exec(path);
    if (!m) return undefined;
    const cached = this.#tokens.consume(m[2]!);
    return cached && cached.kind === m[1] ? cached : undefined;
  }

  #onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const cached = this.#lookup(req.url);
    res.writeHead(cached ? 400 : 404, { 'Content-Type': 'text/plain' });
    res.end(cached ? 'Upgrade request required\n' : '404 page not found\n');
  }

  #onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => this.#log.debug({ err }, 'stream connection error'));
    if (this.#live.size >= this.#opts.maxSessions) {
      // checked before the token is spent: the client may retry the same URL while it is valid
      this.#log.warn({ sessions: this.#live.size }, 'streaming session refused: too many sessions');
      rejectUpgrade(socket, 429, 'Too Many Requests', { 'Retry-After': '1' }, `too many streaming sessions (${this.#opts.maxSessions})\n`);
      return;
    }
    const cached = this.#lookup(req.url);
    if (!cached) {
      rejectUpgrade(socket, 404, 'Not Found', {}, '404 page not found\n');
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') this.#onWebSocket(req, socket, head, cached);
    else if (upgrade === 'spdy/3.1') {
      this.#track(socket, (signal) => serveSpdyUpgrade({
        req, socket, head, cached, signal, backend: this.#opts.backend, log: this.#log,
        streamCreationTimeoutMs: this.#opts.streamCreationTimeoutMs, maxStreams: 2 * this.#opts.maxForwards,
      }));
    } else rejectUpgrade(socket, 400, 'Bad Request', {}, `unsupported upgrade ${JSON.stringify(req.headers.upgrade)}\n`);
  }

  #onWebSocket(req: http.IncomingMessage, socket: Socket, head: Buffer, cached: CachedRequest): void {
    const supported = wsProtocolsFor(req.url);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const protocol = offered.length === 0 ? 'channel.k8s.io' : negotiate(offered, supported);
    if (!protocol) {
      rejectUpgrade(socket, 400, 'Bad Request', {}, `no supported WebSocket protocol in ${offered.join(', ')}\n`);
      return;
    }
    const ports = cached.kind === 'portforward' ? (cached.ports.length > 0 ? cached.ports : portsFromQuery(req.url)) : [];
    if (ports.length > this.#opts.maxForwards) {
      rejectUpgrade(socket, 400, 'Bad Request', {}, `at most ${this.#opts.maxForwards} ports per port forward\n`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('error', (err) => this.#log.debug({ err }, 'websocket error'));
      const gate = wsReadGate(ws);
      this.#track(socket, (signal) => {
        const common = { ws, protocol, backend: this.#opts.backend, gate, signal, log: this.#log };
        if (cached.kind === 'portforward') return serveWsPortForward({ ...common, podSandboxId: cached.podSandboxId, ports });
        return serveWsSession({ ...common, request: cached });
      });
    });
  }

  /** Runs one connection's session; the socket closing aborts it, and close() waits for it. */
  #track(socket: Socket, serve: (signal: AbortSignal) => Promise<void>): void {
    // Armed here, after the upgrade: ws resets the socket timeout while taking the socket over.
    socket.setTimeout(this.#opts.idleTimeoutMs, () => {
      this.#log.info('stream idle timeout; closing');
      socket.destroy();
    });
    const ac = new AbortController();
    const abort = () => {
      if (!ac.signal.aborted) ac.abort(new Error('stream connection closed'));
      socket.destroy();
    };
    socket.once('close', abort);
    const done = serve(ac.signal)
      .catch((err: unknown) => this.#log.warn({ err }, 'stream session failed'))
      .finally(() => {
        this.#live.delete(entry);
        socket.off('close', abort);
        // Each protocol closes its own way (WebSocket close handshake, SPDY GOAWAY and a short
        // linger); a client that never closes its side must not pin the socket.
        setTimeout(() => socket.destroy(), SOCKET_CLOSE_GRACE_MS).unref();
      });
    const entry = { abort, done };
    this.#live.add(entry);
  }
}

function wsProtocolsFor(rawUrl: string | undefined): readonly string[] {
  return (rawUrl ?? '').startsWith('/portforward/') ? WS_PORT_FORWARD_PROTOCOLS : WS_EXEC_PROTOCOLS;
}

/** Ports from `?ports=80,8080` (kubectl puts them in the query for WebSocket port forward). */
function portsFromQuery(rawUrl: string | undefined): number[] {
  let url: URL;
  try {
    url = new URL(rawUrl ?? '/', 'http://x');
  } catch {
    return [];
  }
  return url.searchParams.getAll('ports').flatMap((v) => v.split(',')).map((v) => Number(v.trim()))
    .filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535);
}
