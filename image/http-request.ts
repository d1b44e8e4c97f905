// One HTTP(S) request with a deadline on silence: the request fails with DeadlineExceededError
// when the socket sees no bytes for `idleMs` (connect, headers, or a stalled body alike).
import http, { type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import https from 'node:https';
import { DeadlineExceededError, UnavailableError, isBerthError } from '../common/index.js';

export interface TlsOptions {
  readonly skipVerify?: boolean;
  readonly ca?: readonly string[];
  /** Client certificates (PEM chain and key) offered for mutual TLS. */
  readonly client?: ReadonlyArray<{ readonly cert: string; readonly key: string }>;
}

export interface RequestOptions {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers?: Record<string, string | string[]>;
  body?: string;
  idleMs: number;
  /** Most time to connect (TCP, and TLS for https), in ms; 0 or unset = only `idleMs`. */
  connectMs?: number;
  tls?: TlsOptions;
}

export interface Response {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: PassThrough;
  /** Reads the whole body (at most `max` bytes). */
  text(max?: number): Promise<Buffer>;
  /** Drops the body and the connection. */
  discard(): void;
}

function tlsRequestOptions(tls: TlsOptions | undefined): https.RequestOptions {
  const client = tls?.client ?? [];
  return {
    rejectUnauthorized: !tls?.skipVerify,
    ...(tls?.ca?.length ? { ca: [...tls.ca] } : {}),
    ...(client.length ? { cert: client.map((c) => c.cert), key: client.map((c) => c.key) } : {}),
  };
}

export function request(opts: RequestOptions): Promise<Response> {
  const isHttps = opts.url.protocol === 'https:';
  const mod = isHttps ? https : http;
  const what = `${opts.method} ${opts.url.href}`;
  const timeoutError = () => new DeadlineExceededError(`${what}: no data for ${opts.idleMs} ms`);
  return new Promise<Response>((resolve, reject) => {
    let body: PassThrough | undefined;
    const req = mod.request(opts.url, {
      method: opts.method,
      headers: opts.headers,
      agent: false,
      ...(isHttps ? tlsRequestOptions(opts.tls) : {}),
    });
    if (opts.connectMs) {
      const connectMs = opts.connectMs;
      req.once('socket', (sock) => {
        const timer = setTimeout(() => req.destroy(new DeadlineExceededError(`${what}: not connected within ${connectMs} ms (dial_timeout)`)), connectMs);
        sock.once(isHttps ? 'secureConnect' : 'connect', () => clearTimeout(timer));
        sock.once('close', () => clearTimeout(timer));
      });
    }
    req.setTimeout(opts.idleMs, () => {
      const err = timeoutError();
      if (body) body.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err) => {
      const e = isBerthError(err) ? err : new UnavailableError(`${what}: ${err.message}`, { cause: err });
      if (body) body.destroy(e);
      else reject(e);
    });
    req.on('response', (res) => {
      const out = new PassThrough();
      body = out;
      res.on('error', (err) => out.destroy(isBerthError(err) ? err : new UnavailableError(`${what}: ${err.message}`, { cause: err })));
      res.on('aborted', () => out.destroy(new UnavailableError(`${what}: connection closed mid-body`)));
      out.on('close', () => {
        if (!res.complete) req.destroy();
      });
      res.pipe(out);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: out,
        async text(max = 16 * 1024 * 1024) {
          const chunks: Buffer[] = [];
          let n = 0;
          for await (const c of out as AsyncIterable<Buffer>) {
            n += c.length;
            if (n > max) {
              out.destroy();
              throw new UnavailableError(`${what}: body larger than ${max} bytes`);
            }
            chunks.push(c);
          }
          return Buffer.concat(chunks);
        },
        discard() {
          out.destroy();
          req.destroy();
        },
      });
    });
    req.end(opts.body);
  });
}
