// What the CRI methods work with. Each method file takes the narrow Pick of this it needs.
import type { KeyedMutex, Logger } from '../../common/index.js';
import type { ImageService } from '../../image/index.js';
import type { TaskManager } from '../../taskmanager/index.js';
import type { BerthConfig } from '../config/index.js';
import type { ContainerEventHub, StopWaiters } from '../events/index.js';
import type { PodNetworking } from '../network/index.js';
import type { Store } from '../store/index.js';
import type { StreamingServer } from '../streaming/index.js';
import type { ContainerLogs } from './container-log.js';

/**
 * What the CRI methods use of the task manager: task and exec calls, and `has` (does the task
 * exist). Nothing else of it, so the methods can be tested against a fake (test/helpers/fake-tasks.ts).
 */
export type RuntimeTasks = Pick<TaskManager,
  'has' | 'createTask' | 'start' | 'kill' | 'delete' | 'state' | 'wait' | 'task' | 'update' | 'closeIO' | 'resizePty'
  | 'exec' | 'startExec' | 'deleteExec' | 'startPodShim' | 'stopPodShim' | 'podShimPid'>;

export { CRI_NAMESPACE } from '../events/index.js';

export interface RuntimeDeps {
  readonly config: BerthConfig;
  readonly store: Store;
  readonly images: ImageService;
  readonly tasks: RuntimeTasks;
  readonly events: ContainerEventHub;
  readonly stops: StopWaiters;
  readonly logs: ContainerLogs;
  /** Pod netns + CNI (one per daemon; its netns paths are netnsPath(config.state, id)). */
  readonly network: PodNetworking;
  /** <root>/cri and <state>/cri: per-sandbox files (hosts, resolv.conf, shm). */
  readonly dirs: { readonly root: string; readonly state: string };
  /** Per-id serialization of lifecycle calls (sandbox and container ids). */
  readonly locks: KeyedMutex;
  /** Held while a task is being created and started: exit handling waits for it, so STARTED
   *  is always recorded (and emitted) before STOPPED. */
  readonly starting: KeyedMutex;
  readonly log: Logger;
  /** The streaming server behind Exec/Attach/PortForward URLs (set once it listens). */
  streaming?: Pick<StreamingServer, 'getExecUrl' | 'getAttachUrl' | 'getPortForwardUrl'>;
  /** Settles once the daemon's streaming server listens or failed to (it starts after the CRI
   *  calls are answered, cri/daemon.ts); Exec, Attach and PortForward wait for it. */
  streamingStarted?: Promise<unknown>;
  /** Set by UpdateRuntimeConfig (recorded and shown in Status; conf_template is not implemented). */
  podCidr: string;
}
