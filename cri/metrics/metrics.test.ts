// The metrics pieces a daemon is not needed for: the `[metrics]` key in both config formats, the
// address forms, the endpoint over real HTTP, one Registry per DaemonMetrics, the call observer
// and PSS. The figures a running daemon serves are checked in test/integration/cri-metrics.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKind, silentLogger } from '../../common/index.js';
import { DEFAULT_CONFIG, configDump, parseConfig } from '../config/index.js';
import { DaemonMetrics, grpcCodeName, observeUnary, parseMetricsAddress, serveMetrics, type CallObserver } from './index.js';
import { readPss } from './pss.js';

describe('[metrics] address', () => {
  it('is off by default', () => {
    expect(DEFAULT_CONFIG.metrics.address).toBe('');
    expect(parseConfig('root = "/var/lib/berth"').metrics.address).toBe('');
  });

  it('is read from a berth file and from a containerd file, where grpc_histogram is accepted with no effect', () => {
    expect(parseConfig('[metrics]\naddress = "127.0.0.1:1338"').metrics.address).toBe('127.0.0.1:1338');
    const c = parseConfig('version = 2\n[metrics]\n  address = "127.0.0.1:1338"\n  grpc_histogram = true\n');
    expect(c.metrics.address).toBe('127.0.0.1:1338');
    expect(c.ignored).toContain('metrics.grpc_histogram');
  });

  it('survives configDump', () => {
    const c = parseConfig('[metrics]\naddress = "[::1]:9100"');
    expect(parseConfig(configDump(c)).metrics.address).toBe('[::1]:9100');
  });

  it('is host:port as Go reads it; anything else is InvalidArgument naming the key', () => {
    expect(parseMetricsAddress('127.0.0.1:1338')).toEqual({ host: '127.0.0.1', port: 1338 });
    expect(parseMetricsAddress('[::1]:1338')).toEqual({ host: '::1', port: 1338 });
    expect(parseMetricsAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseMetricsAddress(':1338')).toEqual({ host: undefined, port: 1338 });
    for (const bad of ['1338', '127.0.0.1', '127.0.0.1:99999', '::1:1338', 'http://127.0.0.1:1338', '']) {
      let err: unknown;
      try {
        parseMetricsAddress(bad);
      } catch (e) {
        err = e;
      }
      expect(isKind(err, 'invalid-argument'), bad).toBe(true);
      expect((err as Error).message).toContain('metrics.address');
    }
  });
});

describe('the endpoint', () => {
  it('serves the exposition at /v1/metrics and /metrics, 404 elsewhere, 405 for other methods', async () => {
    const ep = await serveMetrics('127.0.0.1:0', async () => ({ contentType: 'text/plain; version=0.0.4', text: 'x_total 1\n' }), silentLogger);
    try {
      for (const p of ['/v1/metrics', '/metrics?x=1']) {
        const r = await fetch(`http://${ep.address}${p}`);
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4');
        expect(await r.text()).toBe('x_total 1\n');
      }
      expect((await fetch(`http://${ep.address}/`)).status).toBe(404);
      expect((await fetch(`http://${ep.address}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await ep.close();
    }
  });

  it('a port in use fails the start, naming the key', async () => {
    const first = await serveMetrics('127.0.0.1:0', async () => ({ contentType: 'text/plain', text: '' }), silentLogger);
    try {
      await expect(serveMetrics(first.address, async () => ({ contentType: 'text/plain', text: '' }), silentLogger))
        .rejects.toThrow(/metrics\.address .*EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});

/** The value of one series in exposition text (labels exactly as written), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('DaemonMetrics', () => {
  it('counts each call by service, method and gRPC code, in its own registry', async () => {
    const a = await DaemonMetrics.create(silentLogger);
    const b = await DaemonMetrics.create(silentLogger);
    a.observeCall('runtime.v1.RuntimeService', 'Version', {})(0, {});
    a.observeCall('runtime.v1.RuntimeService', 'Version', {})(0, {});
    a.observeCall('runtime.v1.RuntimeService', 'ContainerStatus', {})(5, undefined);
    const text = (await a.scrape()).text;
    const series = (m: string, code: string) =>
      `berth_cri_request_duration_seconds_count{grpc_service="runtime.v1.RuntimeService",grpc_method="${m}",grpc_code="${code}"}`;
    expect(sample(text, series('Version', 'OK'))).toBe(2);
    expect(sample(text, series('ContainerStatus', 'NotFound'))).toBe(1);
    expect(sample((await b.scrape()).text, series('Version', 'OK'))).toBeUndefined();
    // before any state is attached, the scrape-time gauges are zero, not missing
    expect(sample(text, 'berth_containers{state="CONTAINER_RUNNING"}')).toBe(0);
    expect(sample(text, 'berth_pod_sandboxes{state="SANDBOX_READY"}')).toBe(0);
    expect(sample(text, 'berth_daemon_pss_bytes')).toBeGreaterThan(1024 * 1024);
  });

  it('names gRPC codes as Go does', () => {
    expect([0, 2, 4, 5, 9, 12, 14, 16].map(grpcCodeName)).toEqual([
      'OK', 'Unknown', 'DeadlineExceeded', 'NotFound', 'FailedPrecondition', 'Unimplemented', 'Unavailable', 'Unauthenticated',
    ]);
    expect(grpcCodeName(42)).toBe('Code(42)');
  });
});

describe('observeUnary', () => {
  it('tells the observer of the call and its status before the answer goes out', () => {
    const seen: string[] = [];
    const observe: CallObserver = (service, method, request) => {
      seen.push(`start ${service}/${method} ${JSON.stringify(request)}`);
      return (code, response) => seen.push(`end ${code} ${JSON.stringify(response)}`);
    };
    type Call = Parameters<Parameters<typeof observeUnary>[2]>[0];
    const ok = observeUnary('s', 'M', (_call, cb) => cb(null, { a: 1 }), observe);
    ok({ request: { q: 1 } } as Call, () => seen.push('answered'));
    const failed = observeUnary('s', 'M', (_call, cb) => cb({ code: 5, message: 'gone' }), observe);
    failed({ request: {} } as Call, () => seen.push('answered'));
    expect(seen).toEqual(['start s/M {"q":1}', 'end 0 {"a":1}', 'answered', 'start s/M {}', 'end 5 undefined', 'answered']);
  });
});

describe('readPss', () => {
  it('reads smaps_rollup in bytes; a process that is gone has none', async () => {
    const pss = await readPss(process.pid);
    const kb = Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))![1]);
    expect(pss).toBeGreaterThan(kb * 1024 * 0.5);
    expect(pss).toBeLessThan(kb * 1024 * 2);
    expect(await readPss(2 ** 22 + 1)).toBeUndefined();
  });
});
