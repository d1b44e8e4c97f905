// One HTTP(S) request with a deadline on silence: the request fails with DeadlineExceededError
// when the socket sees no bytes for `idleMs` (connect, headers, or a stalled body alike).
import http, { type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import https from 'node:https';
import { DeadlineExceededError, UnavailableError, isBerthError } from '../common/index.js';

export interface TlsOptions {
  readonly skipVerify?: boolean;
  readonly ca?: readonly string[];
}

export interface RequestOptions {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers?: Record<string, string | string[]>;
  body?: string;
  idleMs: number;
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
      ...(isHttps ? { rejectUnauthorized: !opts.tls?.skipVerify, ...(opts.tls?.ca?.length ? { ca: [...opts.tls.ca] } : {}) } : {}),
    });
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
