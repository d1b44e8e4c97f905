// proto layer, containerd side: the generated containerd/ttrpc/google messages and the helpers
// around them. This is what the shim loads; the CRI messages live behind proto/cri.ts so the
// shim never pays for them. See docs/proto.md.
export { containerd, google, ttrpc } from './gen/containerd.js';
export { GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION } from './annotations.js';
export { method, type MessageType, type MethodDescriptor, type PropsOf } from './message-type.js';
export {
  TASK_SERVICE, EVENTS_SERVICE, taskServiceMethods, eventsServiceMethods,
  type TaskServiceMethods,
} from './services.js';
export {
  packAny, packMessage, unpackMessage, packJson, unpackJson, decodeMessage,
  OCI_PROCESS_TYPE_URL, OCI_LINUX_RESOURCES_TYPE_URL, RUNC_OPTIONS_TYPE_URL,
  RUNC_PROCESS_DETAILS_TYPE_URL,
  CGROUPS_V1_METRICS_TYPE_URL, CGROUPS_V2_METRICS_TYPE_URL, type AnyProps,
} from './any.js';
export {
  TASK_EVENT_TYPES, TASK_EVENT_TYPE_URLS, topicOfTypeUrl, encodeEvent, decodeEnvelopeEvent,
  type TaskEventTopic, type TaskEvent, type TaskEventInput,
} from './events.js';
// Cgroup metrics (io.containerd.cgroups.*, unpackCgroupMetrics): the proto/metrics.ts door.
export { toTimestamp, fromTimestamp, GO_ZERO_TIME_SECONDS, type TimestampProps } from './timestamp.js';
// ttrpc framing, client and server (proto/ttrpc/, its own sub-door).
export * from './ttrpc/index.js';
