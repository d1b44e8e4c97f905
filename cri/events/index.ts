// cri/events: the container event feed (GetContainerEvents) and stop notifications.
export { ContainerEventHub, type ContainerEvent, type EventSink } from './container-events.js';
export { StopWaiters } from './stop-waiters.js';
