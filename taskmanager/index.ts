// taskmanager layer: public door. The shim manager (one shim per pod, start/delete, dead shims,
// reload via Connect after a restart) behind the task manager (task and exec calls), the events
// receiver and the exit monitor. See docs/taskmanager.md.
export {
  TaskManager, type TaskManagerOptions, type CreateTaskRequest, type PodShimRequest, type ExecRequest, type ProcessHandle, type TaskHandle,
  type ReloadOutcome,
} from './task-manager.js';
export { taskKey } from './shim-manager.js';
export { ExitMonitor, exitKey, type TaskExit, type ExitSource, type ExitHandler, type ExitMonitorOptions } from './exit-monitor.js';
export type { ForwardedEvent, EventListener } from './events-server.js';
export { resolveRuntime, shimBinaryName, type RuntimeResolveOptions } from './runtime-resolve.js';
export { DEFAULT_STATE_DIR, DEFAULT_ROOT_DIR } from './bundle.js';
export type { Mount, ProcessState, TaskStatus, ExitInfo, RuncOptions, AnyMessage } from './task-client.js';
export { drainFifoReaders } from './fifo.js';
