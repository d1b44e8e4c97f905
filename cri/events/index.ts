// cri/events: the container event feed (GetContainerEvents) and stop notifications.
export { ContainerEventHub, MAX_SUBSCRIBERS, type ContainerEvent, type EventSink, type EvictedHandler } from './container-events.js';
export { StopWaiters } from './stop-waiters.js';
