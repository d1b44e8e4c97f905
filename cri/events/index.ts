// cri/events: exit handling (task exits -> CRI records -> STOPPED), the container event feed
// (GetContainerEvents) and stop notifications. Below cri/runtime: it imports no method file.
export { ContainerEventHub, MAX_SUBSCRIBERS, type ContainerEvent, type EventSink, type EvictedHandler } from './container-events.js';
export { StopWaiters } from './stop-waiters.js';
export { containerEventsStream, MAX_PENDING } from './container-events-stream.js';
export { CRI_NAMESPACE } from './cri-namespace.js';
export { handleExit, handleTaskEvent, watchTaskExits, type ExitDeps } from './exits.js';
