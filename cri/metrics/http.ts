// The metrics endpoint: plain HTTP on containerd's `[metrics] address` (host:port), serving the
// exposition text at containerd's path, /v1/metrics, and at Prometheus's default, /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError, UnavailableError, type Logger } from '../../common/index.js';

export const METRICS_PATHS: readonly string[] = ['/v1/metrics', '/metrics'];

export interface MetricsEndpoint {
  /** host:port actually bound (the port chosen when the address asked for port 0). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * `host:port` as Go's net.Listen reads it: `127.0.0.1:1338`, `[::1]:1338`, `localhost:1338`, or
 * `:1338` for every address of the host.
 */
export function parseMetricsAddress(address: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new InvalidArgumentError(`metrics.address: expected host:port (e.g. "127.0.0.1:1338"), got ${JSON.stringify(address)}`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/** Listens on `address` and answers each GET of a metrics path with `scrape()`. */
export async function serveMetrics(
  address: string, scrape: () => Promise<{ contentType: string; text: string }>, log: Logger,
): Promise<MetricsEndpoint> {
  const { host, port } = parseMetricsAddress(address);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (!METRICS_PATHS.includes(path)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${METRICS_PATHS.join(' and ')}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    scrape().then(({ contentType, text }) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) }).end(req.method === 'HEAD' ? undefined : text);
    }, (err: unknown) => {
      log.warn({ err }, 'metrics scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UnavailableError(`metrics.address ${address}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const shown = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  log.info({ address: shown, paths: METRICS_PATHS }, 'metrics endpoint listening');
  return {
    address: shown,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
