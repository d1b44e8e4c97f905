// What cri/events' exit handling needs, from the runtime's deps: the store, the task manager's
// has/delete, the logs to finish, Stop waiters, the `starting` lock, and STOPPED emitted with the
// pod's and the container's status, as the other events are (sandbox-events.ts).
import type { ExitDeps } from '../events/index.js';
import type { RuntimeDeps } from './deps.js';
import { containerEvent, sandboxStopped } from './sandbox-events.js';

export function exitDeps(deps: Pick<RuntimeDeps, 'store' | 'tasks' | 'logs' | 'stops' | 'starting' | 'log' | 'events'>): ExitDeps {
  return {
    store: deps.store, tasks: deps.tasks, logs: deps.logs, stops: deps.stops, starting: deps.starting, log: deps.log,
    stopped: (r) => ('container' in r ? containerEvent(deps, r.container, 'stopped') : sandboxStopped(deps, r.sandbox)),
  };
}
