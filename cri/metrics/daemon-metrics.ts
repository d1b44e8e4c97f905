// The daemon's Prometheus metrics (docs/metrics.md), in one Registry per daemon (never
// prom-client's global one: two daemons in one process keep their own figures). Calls, pulls and
// exits are counted as they happen; pods, containers and shims are read from the CRI store, the
// task manager and /proc when Prometheus scrapes. prom-client is loaded only when metrics are on:
// a daemon without them never pays for it.
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/index.js';
import type { ImageService } from '../../image/index.js';
import type { TaskManager } from '../../taskmanager/index.js';
import { CRI_NAMESPACE, type ExitDeps } from '../events/index.js';
import { containerState, containerStatusView, sandboxState, type ContainerState, type SandboxState, type Store } from '../store/index.js';
import { grpcCodeName, type CallObserver } from './calls.js';
import { serveMetrics } from './http.js';
import { readPss } from './pss.js';

/** What the scrape-time figures are read from, known once the daemon has recovered its state. */
export interface MetricsSources {
  readonly store: Store;
  readonly tasks: TaskManager;
  readonly images: ImageService;
  /** The runtime handler a pod with handler "" runs on (containerd.default_runtime_name). */
  readonly defaultRuntime: string;
}

const SANDBOX_STATES: readonly SandboxState[] = ['SANDBOX_READY', 'SANDBOX_NOTREADY'];
const CONTAINER_STATES: readonly ContainerState[] = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'];

/** From a list call kubelet makes every second (well under a millisecond) to a pull of minutes. */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PULL_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

const PULL_METHOD = 'PullImage';

export class DaemonMetrics {
  readonly registry: Registry;
  readonly #log: Logger;
  #sources: MetricsSources | undefined;
  readonly #calls;
  readonly #pulls;
  readonly #pullBytes;
  readonly #exits;

  /** Loads prom-client and registers every metric on a new Registry. */
  static async create(log: Logger): Promise<DaemonMetrics> {
    return new DaemonMetrics(await import('prom-client'), log);
  }

  private constructor(prom: typeof import('prom-client'), log: Logger) {
    this.#log = log;
    const registry = new prom.Registry();
    this.registry = registry;
    const registers = [registry];
    prom.collectDefaultMetrics({ register: registry });
    this.#calls = new prom.Histogram({
      name: 'berth_cri_request_duration_seconds', registers, buckets: CALL_BUCKETS,
      help: 'Time from the arrival of a unary CRI call to its answer, by service, method and gRPC code',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'] as const,
    });
    this.#pulls = new prom.Histogram({
      name: 'berth_image_pull_duration_seconds', registers, buckets: PULL_BUCKETS,
      help: 'PullImage calls by result: stored (an image not held before the call), present (already held), failed',
      labelNames: ['result'] as const,
    });
    this.#pullBytes = new prom.Counter({
      name: 'berth_image_pull_bytes_total', registers,
      help: 'Size (manifests, config, compressed layers, as ImageStatus reports it) of the images PullImage stored',
    });
    this.#exits = new prom.Counter({
      name: 'berth_container_exits_total', registers, labelNames: ['reason'] as const,
      help: 'Container exits recorded, by the reason ContainerStatus reports (Completed, Error, OOMKilled, ...)',
    });
    const sources = () => this.#sources;
    // Every state is written, 0 included, so a series does not vanish when its last pod goes.
    const byState = <T>(name: string, help: string, states: readonly string[], list: () => readonly T[], stateOf: (r: T) => string) =>
      new prom.Gauge({
        name, help, registers, labelNames: ['state'] as const,
        collect() {
          for (const [state, n] of countBy(list(), stateOf, states)) this.set({ state }, n);
        },
      });
    byState('berth_pod_sandboxes', 'Pod sandboxes by CRI state', SANDBOX_STATES, () => sources()?.store.sandboxes.list() ?? [], sandboxState);
    byState('berth_containers', 'Containers by CRI state', CONTAINER_STATES, () => sources()?.store.containers.list() ?? [], containerState);
    // One pass over the shims feeds both shim gauges (a scrape collects them concurrently), so
    // they agree with each other and /proc is read once per shim.
    let pass: Promise<ShimFigure[]> | undefined;
    const shimFigures = (): Promise<ShimFigure[]> => {
      pass ??= readShims(sources()).finally(() => { pass = undefined; });
      return pass;
    };
    new prom.Gauge({
      name: 'berth_shims', registers, labelNames: ['runtime_handler'] as const, help: 'Shim processes serving tasks, by runtime handler',
      async collect() {
        const figures = await shimFigures();
        this.reset();
        for (const [handler, n] of countBy(figures, (f) => f.handler)) this.set({ runtime_handler: handler }, n);
      },
    });
    new prom.Gauge({
      name: 'berth_shim_pss_bytes', registers, labelNames: ['pod_sandbox_id', 'runtime_handler'] as const,
      help: 'Proportional set size of each shim (/proc/<pid>/smaps_rollup, read at scrape time)',
      async collect() {
        const figures = await shimFigures();
        this.reset();
        for (const f of figures) if (f.pss !== undefined) this.set({ pod_sandbox_id: f.sandboxId, runtime_handler: f.handler }, f.pss);
      },
    });
    new prom.Gauge({
      name: 'berth_daemon_pss_bytes', registers, help: 'Proportional set size of the berth daemon (/proc/self/smaps_rollup)',
      async collect() {
        const pss = await readPss('self');
        if (pss !== undefined) this.set(pss);
      },
    });
  }

  /**
   * Serves the endpoint on `address` (containerd's `[metrics] address`), reading the scrape-time
   * figures from `sources`; returns the function that closes it.
   */
  async serve(address: string, sources: MetricsSources, log: Logger): Promise<() => Promise<void>> {
    this.#sources = sources;
    const endpoint = await serveMetrics(address, () => this.scrape(), log);
    return () => endpoint.close();
  }

  /** The hook `instrument` (cri/service.ts) calls for every unary CRI call. */
  readonly observeCall: CallObserver = (service, method, _request) => {
    const t0 = performance.now();
    const startedAtMs = Date.now();
    return (code, response) => {
      try {
        const seconds = (performance.now() - t0) / 1000;
        this.#calls.observe({ grpc_service: service, grpc_method: method, grpc_code: grpcCodeName(code) }, seconds);
        if (method === PULL_METHOD) this.#pulled(code, response, startedAtMs, seconds);
      } catch (err) {
        this.#log.warn({ err, method }, 'metrics: a CRI call was not counted');
      }
    };
  };

  // An image record keeps the time it was first stored (a later pull of the same image keeps
  // it), so a record newer than the call was stored by this call (or by one running alongside it
  // for the same image: both count it).
  #pulled(code: number, response: unknown, startedAtMs: number, seconds: number): void {
    if (code !== 0) {
      this.#pulls.observe({ result: 'failed' }, seconds);
      return;
    }
    const imageRef = (response as { imageRef?: string } | undefined)?.imageRef ?? '';
    const rec = imageRef === '' ? undefined : this.#sources?.images.status(imageRef);
    const stored = rec !== undefined && Date.parse(rec.createdAt) >= startedAtMs;
    this.#pulls.observe({ result: stored ? 'stored' : 'present' }, seconds);
    if (stored) this.#pullBytes.inc(rec.size);
  }

  /**
   * `deps` for exit handling (cri/events handleExit), counting each container exit as the CRI
   * records it (its `stopped` runs once per recorded exit), by the reason its status reports.
   */
  countingExits(deps: ExitDeps): ExitDeps {
    return {
      ...deps,
      stopped: (r) => {
        if ('container' in r) this.#exits.inc({ reason: containerStatusView(r.container).reason });
        deps.stopped(r);
      },
    };
  }

  /** The exposition text and its content type, as a scrape receives them. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** How many of `items` have each key; `keys` are present even when none has them. */
function countBy<T>(items: readonly T[], keyOf: (x: T) => string, keys: readonly string[] = []): Map<string, number> {
  const counts = new Map<string, number>(keys.map((k) => [k, 0]));
  for (const x of items) counts.set(keyOf(x), (counts.get(keyOf(x)) ?? 0) + 1);
  return counts;
}

interface ShimFigure {
  sandboxId: string;
  handler: string;
  /** undefined: the shim's pid is not known yet (Connect pending) or it just exited. */
  pss: number | undefined;
}

/** One figure per shim process (the tasks it serves share its ttrpc address), PSS read now. */
async function readShims(src: MetricsSources | undefined): Promise<ShimFigure[]> {
  if (!src) return [];
  const byAddress = new Map<string, { pid: number; sandboxId: string; handler: string }>();
  for (const t of src.tasks.list()) {
    if (t.namespace !== CRI_NAMESPACE || byAddress.has(t.shimAddress)) continue;
    const sandboxId = src.store.sandboxes.has(t.id) ? t.id : src.store.containers.has(t.id) ? src.store.containers.get(t.id).sandboxId : '';
    const handler = (src.store.sandboxes.has(sandboxId) ? src.store.sandboxes.get(sandboxId).runtimeHandler : '') || src.defaultRuntime;
    byAddress.set(t.shimAddress, { pid: src.tasks.has(t.namespace, t.id) ? src.tasks.shimPid(t.namespace, t.id) : 0, sandboxId, handler });
  }
  return Promise.all([...byAddress.values()].map(async (s) => ({
    sandboxId: s.sandboxId, handler: s.handler, pss: s.pid > 0 ? await readPss(s.pid) : undefined,
  })));
}
