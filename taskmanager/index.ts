// taskmanager layer: public door. Shim v2 lifecycle (one shim per pod), task calls, reload via
// Connect after a restart, the events receiver and the exit monitor. See docs/taskmanager.md.
export {
  TaskManager, taskKey, type TaskManagerOptions, type CreateTaskRequest, type ExecRequest, type ProcessHandle, type TaskHandle,
} from './task-manager.js';
export type { ReloadOutcome } from './reload.js';
export { ExitMonitor, exitKey, type TaskExit, type ExitSource, type ExitDb, type ExitHandler, type ExitMonitorOptions } from './exit-monitor.js';
export { openExitDb } from './exit-db.js';
export type { ForwardedEvent, EventListener } from './events-server.js';
export { resolveRuntime, shimBinaryName, type RuntimeResolveOptions } from './runtime-resolve.js';
export { DEFAULT_STATE_DIR, DEFAULT_ROOT_DIR } from './bundle.js';
export type { Mount, ProcessState, TaskStatus, ExitInfo, RuncOptions, AnyMessage } from './task-client.js';
