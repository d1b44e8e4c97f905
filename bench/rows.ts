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

export const ROWS: readonly RowDef[] = [
  { id: 'pod-start-seq', figure: 'pod-start', title: 'pod start, sequential (per pod)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'pod-start-par', figure: 'pod-start', title: 'pod start, 8 parallel (per pod)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'pod-start-par-wall', figure: 'pod-start', title: 'pod start, 8 parallel (wall for 8)', unit: 'ms', target: { op: '<=', value: 0.7 } },
  { id: 'phase-run', figure: 'pod-start', title: '  phase: RunPodSandbox (sequential)', unit: 'ms' },
  { id: 'phase-create', figure: 'pod-start', title: '  phase: CreateContainer', unit: 'ms' },
  { id: 'phase-start', figure: 'pod-start', title: '  phase: StartContainer', unit: 'ms' },
  ...BERTH_RUN_PHASES.map((p) => ({ id: `run:${p}`, figure: 'pod-start', title: `    berth RunPodSandbox: ${p}`, unit: 'ms' })),
  ...BERTH_START_PHASES.map((p) => ({ id: `start:${p}`, figure: 'pod-start', title: `    berth StartContainer: ${p}`, unit: 'ms' })),
  { id: 'mem-shim', figure: 'memory', title: 'shim PSS per pod (pause + 2 sleep)', unit: 'MiB' },
  { id: 'mem-daemon', figure: 'memory', title: 'daemon PSS growth per pod', unit: 'MiB' },
  { id: 'mem-total', figure: 'memory', title: 'memory per pod (shims + daemon growth)', unit: 'MiB', target: { op: '<=', value: 1.0 } },
  { id: 'restart-20', figure: 'restart', title: 'restart reload, 20 pods', unit: 'ms', target: { op: '<=', value: 1.0 } },
  { id: 'restart-200', figure: 'restart', title: 'restart reload, 200 pods', unit: 'ms', target: { op: '<=', value: 0.5 } },
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
  { id: 'pull', figure: 'pull', title: 'pull + unpack 50 MB, 5 layers', unit: 'MB/s', higherIsBetter: true, target: { op: '>=', value: 1.0 } },
  { id: 'floor-runc', figure: 'floor', title: 'floor: `runc run -d` (same rootfs)', unit: 'ms' },
  { id: 'floor-cni', figure: 'floor', title: 'floor: netns + CNI ADD alone', unit: 'ms' },
  { id: 'shim-start', figure: 'shim', title: 'shim `start` → serving (Connect answers), cold: no spare', unit: 'ms', target: { op: '<=', value: 1.5 } },
  { id: 'shim-start-action', figure: 'shim', title: '  of which: `start` action exits with the address', unit: 'ms' },
  { id: 'shim-start-warm', figure: 'shim', title: 'shim `start` → serving, warm: 1 pod running, spare ready', unit: 'ms', target: { op: '<=', value: 1.5 } },
  { id: 'shim-start-warm-action', figure: 'shim', title: '  of which: `start` action exits with the address', unit: 'ms' },
  { id: 'shim-pss', figure: 'shim', title: 'shim PSS per pod (pause + 2 ctrs), direct ttrpc, berth\'s spare included', unit: 'MiB', target: { op: '<=', value: 2.0 } },
];

export const FIGURES = ['memory', 'pod-start', 'restart', 'exit', 'read', 'imagefs', 'pull', 'floor', 'shim'] as const;
export type Figure = (typeof FIGURES)[number];

export function rowsOf(figure: string): RowDef[] {
  return ROWS.filter((r) => r.figure === figure);
}
