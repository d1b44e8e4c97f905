// cri/metrics: the daemon's Prometheus endpoint (docs/metrics.md), off unless `[metrics] address`
// is set: CRI call latencies, pulls, exits, and pods, containers and shims read at scrape time.
export { observeUnary, grpcCodeName, type CallObserver, type CallEnd } from './calls.js';
export { DaemonMetrics, type MetricsSources } from './daemon-metrics.js';
export { serveMetrics, parseMetricsAddress, METRICS_PATHS, type MetricsEndpoint } from './http.js';
