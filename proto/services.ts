// Method tables for the two ttrpc services berth speaks: the shim task API and the events
// sink. A generic ttrpc client/server takes (service name, table) and is typed from it.
import { containerd, google } from './gen/containerd.js';
import { method } from './message-type.js';

const v2 = containerd.task.v2;
const Empty = google.protobuf.Empty;

/** `Request.service` of every shim task call. */
export const TASK_SERVICE = 'containerd.task.v2.Task';

/** `Request.service` of the events sink a shim forwards to (TTRPC_ADDRESS). */
export const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

/** containerd.task.v2.Task: method name -> { requestType, responseType }. */
export const taskServiceMethods = {
  State: method(v2.StateRequest, v2.StateResponse),
  Create: method(v2.CreateTaskRequest, v2.CreateTaskResponse),
  Start: method(v2.StartRequest, v2.StartResponse),
  Delete: method(v2.DeleteRequest, v2.DeleteResponse),
  Pids: method(v2.PidsRequest, v2.PidsResponse),
  Pause: method(v2.PauseRequest, Empty),
  Resume: method(v2.ResumeRequest, Empty),
  Checkpoint: method(v2.CheckpointTaskRequest, Empty),
  Kill: method(v2.KillRequest, Empty),
  Exec: method(v2.ExecProcessRequest, Empty),
  ResizePty: method(v2.ResizePtyRequest, Empty),
  CloseIO: method(v2.CloseIORequest, Empty),
  Update: method(v2.UpdateTaskRequest, Empty),
  Wait: method(v2.WaitRequest, v2.WaitResponse),
  Stats: method(v2.StatsRequest, v2.StatsResponse),
  Connect: method(v2.ConnectRequest, v2.ConnectResponse),
  Shutdown: method(v2.ShutdownRequest, Empty),
} as const;
export type TaskServiceMethods = typeof taskServiceMethods;

/** containerd.services.events.ttrpc.v1.Events: Forward only. */
export const eventsServiceMethods = {
  Forward: method(containerd.services.events.ttrpc.v1.ForwardRequest, Empty),
} as const;
