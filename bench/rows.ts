// Every row the table can print: what it measures, its unit, which way is better, and the
// target ratio from issues #9/#10. Figures fill samples in by row id.

export type Column = 'berth' | 'containerd' | 'floor';

export interface RowDef {
  id: string;
  figure: string;
  title: string;
  unit: string;
  higherIsBetter?: boolean;
  target?: { op: '<=' | '>='; value: number };
}

/**
 * The phases berth reports for RunPodSandbox and StartContainer (verbose status "timings", see
 * cri/runtime/sandbox-run.ts): one berth-only row each. Phases overlap (the netns and CNI ADD
 * run beside the pause rootfs, spec and task), so they do not add up to the call's time.
 */
export const BERTH_RUN_PHASES = [
  'lock', 'store', 'netns', 'cni add', 'image', 'pod files', 'snapshot', 'spec', 'wait netns', 'bundle', 'shim start', 'shim connect', 'task create',
  'task start', 'wait network', 'total',
] as const;
export const BERTH_START_PHASES = ['spec', 'bundle', 'shim reuse', 'shim connect', 'task create', 'task start', 'total'] as const;

/** The light calls the Go client times (bench/go-figures.ts), with each one's target from issue #21. */
const GO_LIGHT: readonly { id: string; title: string; target?: number }[] = [
  { id: 'version', title: 'Version (the RPC stack alone)' },
  { id: 'ctr-status', title: 'ContainerStatus', target: 1.0 },
  { id: 'pod-status', title: 'PodSandboxStatus', target: 1.0 },
  { id: 'image-status', title: 'ImageStatus', target: 1.0 },
  { id: 'list-images', title: 'ListImages, 50 images', target: 1.0 },
  { id: 'list-ctrs', title: 'ListContainers, 100 ctrs', target: 1.0 },
  { id: 'list-pods', title: 'ListPodSandbox, 10 pods', target: 1.0 },
  { id: 'imagefs', title: 'ImageFsInfo, 50 images' },
];
const GO_MODE_TITLES = [['kept', 'kept conn'], ['once', 'conn per call']] as const;

function goRows(): RowDef[] {
  const out: RowDef[] = [{ id: 'go-idle-pss', figure: 'go-read', title: 'daemon PSS, no pods (idle)', unit: 'MiB', target: { op: '<=', value: 1.3 } }];
  for (const c of GO_LIGHT) {
    for (const [mode, m] of GO_MODE_TITLES) {
      const target = c.target === undefined ? undefined : { op: '<=' as const, value: c.target };
      out.push({ id: `go-${c.id}-${mode}`, figure: 'go-read', title: `Go, ${m}: ${c.title}, per call`, unit: 'ms', target });
      out.push({ id: `go-${c.id}-${mode}-cpu`, figure: 'go-read', title: '  daemon CPU per call', unit: 'µs' });
    }
  }
  for (const [mode, m] of GO_MODE_TITLES) {
    out.push(
      { id: `go-remove-${mode}`, figure: 'go-remove', title: `Go, ${m}: RemoveContainer (exited), per call`, unit: 'ms', target: { op: '<=', value: 1.0 } },
      { id: `go-remove-${mode}-cpu`, figure: 'go-remove', title: '  daemon CPU per call', unit: 'µs' },
    );
  }
  for (const [mode, m] of GO_MODE_TITLES) {
    out.push(
      { id: `go-start-seq-${mode}`, figure: 'go-pods', title: `Go, ${m}: pod start, sequential (per pod)`, unit: 'ms', target: { op: '<=', value: 0.7 } },
      { id: `go-start-par-${mode}`, figure: 'go-pods', title: `Go, ${m}: pod start, 8 parallel (per pod)`, unit: 'ms', target: { op: '<=', value: 0.7 } },
      { id: `go-start-wall-${mode}`, figure: 'go-pods', title: `Go, ${m}: pod start, 8 parallel (wall for 8)`, unit: 'ms', target: { op: '<=', value: 0.7 } },
    );
  }
  out.push({ id: 'go-restart', figure: 'go-pods', title: 'Go, conn per call: kill -9 + restart → all RUNNING (--pods pods)', unit: 'ms', target: { op: '<=', value: 1.0 } });
  return out;
}

/** The kubelet-like steady load rows for `n` pods (bench/go-figures.ts steady). */
export function steadyRows(n: number): RowDef[] {
  return [
    { id: `steady-${n}-cpu`, figure: 'steady', title: `kubelet-like steady load, ${n} pods: daemon CPU per second`, unit: 'ms', target: { op: '<=', value: 1.0 } },
    { id: `steady-${n}-relist`, figure: 'steady', title: '  ListPodSandbox / ListContainers (every 1 s), per call', unit: 'ms' },
    { id: `steady-${n}-status`, figure: 'steady', title: '  PodSandboxStatus / ContainerStatus (a tenth of pods per s), per call', unit: 'ms' },
    { id: `steady-${n}-podstats`, figure: 'steady', title: '  ListPodSandboxStats (every 10 s)', unit: 'ms' },
    { id: `steady-${n}-ctrstats`, figure: 'steady', title: '  ListContainerStats (every 10 s)', unit: 'ms' },
    { id: `steady-${n}-imagefs`, figure: 'steady', title: '  ImageFsInfo (every 10 s)', unit: 'ms' },
  ];
}

export const ROWS: readonly RowDef[] = [
  { id: 'pod-start-seq', figure: 'pod-start', title: 'pod start, sequential (per pod)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'pod-start-par', figure: 'pod-start', title: 'pod start, 8 parallel (per pod)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'pod-start-par-wall', figure: 'pod-start', title: 'pod start, 8 parallel (wall for 8)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'phase-run', figure: 'pod-start', title: '  phase: RunPodSandbox (sequential)', unit: 'ms' },
  { id: 'phase-create', figure: 'pod-start', title: '  phase: CreateContainer', unit: 'ms' },
  { id: 'phase-start', figure: 'pod-start', title: '  phase: StartContainer', unit: 'ms' },
  ...BERTH_RUN_PHASES.map((p) => ({ id: `run:${p}`, figure: 'pod-start', title: `    berth RunPodSandbox: ${p}`, unit: 'ms' })),
  ...BERTH_START_PHASES.map((p) => ({ id: `start:${p}`, figure: 'pod-start', title: `    berth StartContainer: ${p}`, unit: 'ms' })),
  { id: 'mem-shim', figure: 'memory', title: 'shim PSS per pod (2 sleep, plus containerd\'s pause)', unit: 'MiB' },
  { id: 'mem-daemon', figure: 'memory', title: 'daemon PSS growth per pod', unit: 'MiB' },
  { id: 'mem-total', figure: 'memory', title: 'memory per pod (shims + daemon growth)', unit: 'MiB', target: { op: '<=', value: 1.0 } },
  { id: 'restart-20', figure: 'restart', title: 'restart reload, 20 pods', unit: 'ms', target: { op: '<=', value: 1.0 } },
  { id: 'restart-20-cpu', figure: 'restart', title: '  daemon CPU, start to all RUNNING', unit: 'ms' },
  { id: 'restart-200', figure: 'restart', title: 'restart reload, 200 pods', unit: 'ms', target: { op: '<=', value: 0.5 } },
  { id: 'restart-200-cpu', figure: 'restart', title: '  daemon CPU, start to all RUNNING', unit: 'ms' },
  { id: 'exit-status', figure: 'exit', title: 'exit → ContainerStatus EXITED (poll)', unit: 'ms', target: { op: '<=', value: 1.0 } },
  { id: 'exit-event', figure: 'exit', title: 'exit → GetContainerEvents', unit: 'ms', target: { op: '<=', value: 1.0 } },
  { id: 'read-list-1', figure: 'read', title: 'ListContainers, 100 ctrs, 1 client', unit: '/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'read-list-1-daemon-cpu', figure: 'read', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'read-list-1-client-cpu', figure: 'read', title: '  client CPU per call (the bench)', unit: 'µs' },
  { id: 'read-list-8', figure: 'read', title: 'ListContainers, 100 ctrs, 8 clients', unit: '/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'read-list-8-daemon-cpu', figure: 'read', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'read-list-8-client-cpu', figure: 'read', title: '  client CPU per call (the bench)', unit: 'µs' },
  { id: 'read-status-1', figure: 'read', title: 'ContainerStatus, 100 ctrs, 1 client', unit: '/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'read-status-1-daemon-cpu', figure: 'read', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'read-status-1-client-cpu', figure: 'read', title: '  client CPU per call (the bench)', unit: 'µs' },
  { id: 'read-status-8', figure: 'read', title: 'ContainerStatus, 100 ctrs, 8 clients', unit: '/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'read-status-8-daemon-cpu', figure: 'read', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'read-status-8-client-cpu', figure: 'read', title: '  client CPU per call (the bench)', unit: 'µs' },
  { id: 'read-version-8', figure: 'read', title: 'Version (the RPC stack alone), 8 clients', unit: '/s', higherIsBetter: true },
  { id: 'read-version-8-daemon-cpu', figure: 'read', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'read-version-8-client-cpu', figure: 'read', title: '  client CPU per call (the bench)', unit: 'µs' },
  { id: 'imagefs-1', figure: 'imagefs', title: 'ImageFsInfo, 50 images, 1 client (each call)', unit: 'µs' },
  { id: 'imagefs-1-daemon-cpu', figure: 'imagefs', title: '  daemon CPU per call', unit: 'µs' },
  { id: 'imagefs-version-1', figure: 'imagefs', title: '  Version in turn, same client (the RPC round trip alone)', unit: 'µs' },
  { id: 'imagefs-version-1-daemon-cpu', figure: 'imagefs', title: '    daemon CPU per call', unit: 'µs' },
  ...goRows(),
  ...steadyRows(60),
  ...steadyRows(200),
  { id: 'pull', figure: 'pull', title: 'pull + unpack 50 MB, 5 layers', unit: 'MB/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'pull-daemon-cpu', figure: 'pull', title: '  daemon CPU per pull (all its threads)', unit: 'ms' },
  { id: 'floor-runc', figure: 'floor', title: 'floor: `runc run -d` (same rootfs)', unit: 'ms' },
  { id: 'floor-cni', figure: 'floor', title: 'floor: netns + CNI ADD alone', unit: 'ms' },
  { id: 'shim-start', figure: 'shim', title: 'shim `start` → serving (Connect answers), cold: no spare', unit: 'ms', target: { op: '<=', value: 1.5 } },
  { id: 'shim-start-action', figure: 'shim', title: '  of which: `start` action exits with the address', unit: 'ms' },
  { id: 'shim-start-warm', figure: 'shim', title: 'shim `start` → serving, warm: 1 pod running, spare ready', unit: 'ms', target: { op: '<=', value: 1.5 } },
  { id: 'shim-start-warm-action', figure: 'shim', title: '  of which: `start` action exits with the address', unit: 'ms' },
  { id: 'shim-pss', figure: 'shim', title: 'shim PSS per pod (pause + 2 ctrs), direct ttrpc, berth\'s spare included', unit: 'MiB', target: { op: '<=', value: 2.0 } },
];

export const FIGURES = ['memory', 'pod-start', 'restart', 'exit', 'read', 'imagefs', 'go-read', 'go-remove', 'go-pods', 'steady', 'pull', 'floor', 'shim'] as const;
export type Figure = (typeof FIGURES)[number];

/** ROWS plus the steady rows of pod counts other than 60 and 200 (`--steady`). */
export function rowsFor(steadyPods: readonly number[]): RowDef[] {
  return [...ROWS, ...steadyPods.filter((n) => n !== 60 && n !== 200).flatMap(steadyRows)];
}

export function rowsOf(figure: string): RowDef[] {
  return ROWS.filter((r) => r.figure === figure);
}
