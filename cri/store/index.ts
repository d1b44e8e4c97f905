// cri/store: the CRI daemon's durable records (sandboxes, containers, name reservations) in
// level, frozen in memory, with the CRI states derived from their facts.
export { openStore, Store, type StoreOptions, type SkippedRecord, type ExitResult } from './store.js';
export { RecordTable } from './record-table.js';
export { NameRegistry, makeSandboxName, makeContainerName, type SandboxNameParts } from './names.js';
export { containerState, containerStatusView, sandboxState } from './state.js';
export type { ContainerState, ContainerStatusView, SandboxState } from './state.js';
export { labelsOf, matchesLabels } from './labels.js';
export { RECORD_VERSION, isSet, nanosFromDate, nanosFromTimestamp, nowNanos } from './records.js';
export type {
  ContainerMetadata,
  ContainerRecord,
  Json,
  JsonObject,
  NanoTime,
  SandboxMetadata,
  SandboxRecord,
  SandboxStage,
} from './records.js';
