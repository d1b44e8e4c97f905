// Conversions between protobufjs CRI messages and berth's records: int64 in and out, request
// messages to plain JSON (what the store keeps), and the CRI status messages built from records.
import { deepFreeze } from '../../common/index.js';
import { runtime } from '../../proto/cri-wire.js';
import {
  containerStatusView, labelsOf, sandboxState, type ContainerRecord, type JsonObject, type NanoTime, type SandboxRecord,
} from '../store/index.js';

const v1 = runtime.v1;

/** An int64 field value for a reply: protobufjs encodes decimal strings exactly (no 2^53 limit). */
export function int64(v: NanoTime | number): number {
  return v as unknown as number;
}

/** An int64 field of a decoded request (Long, number or string) as a JS number. */
export function toNum(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof v === 'object' && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

type ToObject = { toObject(m: never, o: object): Record<string, unknown> };

/** A decoded message as plain JSON (int64 as strings, enums as numbers, unset fields absent). */
export function toPlain(type: unknown, message: unknown): JsonObject {
  if (message === null || message === undefined) return {};
  return JSON.parse(JSON.stringify((type as ToObject).toObject(message as never, { longs: String, enums: Number, defaults: false }))) as JsonObject;
}

export const plainSandboxConfig = (m: unknown): JsonObject => toPlain(v1.PodSandboxConfig, m);
export const plainContainerConfig = (m: unknown): JsonObject => toPlain(v1.ContainerConfig, m);

const CONTAINER_STATE = {
  CONTAINER_CREATED: v1.ContainerState.CONTAINER_CREATED,
  CONTAINER_RUNNING: v1.ContainerState.CONTAINER_RUNNING,
  CONTAINER_EXITED: v1.ContainerState.CONTAINER_EXITED,
  CONTAINER_UNKNOWN: v1.ContainerState.CONTAINER_UNKNOWN,
} as const;

export function containerStateOf(r: ContainerRecord): runtime.v1.ContainerState {
  return CONTAINER_STATE[containerStatusView(r).state];
}

export function sandboxStateOf(r: SandboxRecord): runtime.v1.PodSandboxState {
  return sandboxState(r) === 'SANDBOX_READY' ? v1.PodSandboxState.SANDBOX_READY : v1.PodSandboxState.SANDBOX_NOTREADY;
}

const stringMap = (o: unknown): Record<string, string> =>
  o !== null && typeof o === 'object' && !Array.isArray(o)
    ? Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'string')) as Record<string, string>
    : {};

export const annotationsOf = (r: { config: JsonObject }): Record<string, string> => stringMap(r.config.annotations);

/**
 * One frozen message per record object. Records are frozen and replaced on every change, so a
 * record's message never changes; a repeated read reuses it, and its encoding too
 * (proto/encode-cache.ts). The WeakMap lets both go with the record.
 */
function perRecord<R extends object, M>(build: (r: R) => M): (r: R) => M {
  const cache = new WeakMap<R, M>();
  return (r) => {
    let m = cache.get(r);
    if (m === undefined) {
      m = deepFreeze(build(r));
      if (Object.isFrozen(r)) cache.set(r, m);
    }
    return m;
  };
}

/** The CRI Container (ListContainers entry) of a record. */
export const containerMessage = perRecord(buildContainerMessage);
/** The CRI ContainerStatus of a record. */
export const containerStatusMessage = perRecord(buildContainerStatusMessage);
/** The CRI PodSandbox (ListPodSandbox entry) of a record. */
export const sandboxMessage = perRecord(buildSandboxMessage);
/** The CRI PodSandboxStatus of a record. */
export const sandboxStatusMessage = perRecord(buildSandboxStatusMessage);

function buildContainerMessage(r: ContainerRecord): runtime.v1.Container.$Properties {
  return {
    id: r.id, podSandboxId: r.sandboxId, metadata: { name: r.metadata.name, attempt: r.metadata.attempt },
    image: { image: r.imageRef }, imageRef: r.imageId, state: containerStateOf(r), createdAt: int64(r.createdAt),
    labels: { ...labelsOf(r) }, annotations: annotationsOf(r), imageId: r.imageId,
  };
}

function buildContainerStatusMessage(r: ContainerRecord): runtime.v1.ContainerStatus.$Properties {
  const view = containerStatusView(r);
  const mounts = Array.isArray(r.config.mounts) ? (r.config.mounts as JsonObject[]) : [];
  return {
    id: r.id, metadata: { name: r.metadata.name, attempt: r.metadata.attempt }, state: containerStateOf(r),
    createdAt: int64(view.createdAt), startedAt: int64(view.startedAt), finishedAt: int64(view.finishedAt),
    exitCode: view.exitCode, image: { image: r.imageRef }, imageRef: r.imageId, imageId: r.imageId, reason: view.reason, message: view.message,
    labels: { ...labelsOf(r) }, annotations: annotationsOf(r), logPath: r.logPath,
    mounts: mounts.map((m) => ({
      containerPath: String(m.containerPath ?? ''), hostPath: String(m.hostPath ?? ''), readonly: m.readonly === true,
      selinuxRelabel: m.selinuxRelabel === true, propagation: Number(m.propagation ?? 0), recursiveReadOnly: m.recursiveReadOnly === true,
    })),
    ...(r.resources ? { resources: { linux: r.resources as runtime.v1.ILinuxContainerResources } } : {}),
    ...(r.user ? { user: { linux: { uid: r.user.uid, gid: r.user.gid, supplementalGroups: [...r.user.supplementalGroups] } } } : {}),
  };
}

function buildSandboxMessage(r: SandboxRecord): runtime.v1.PodSandbox.$Properties {
  return {
    id: r.id, metadata: { ...r.metadata }, state: sandboxStateOf(r), createdAt: int64(r.createdAt),
    labels: { ...labelsOf(r) }, annotations: annotationsOf(r), runtimeHandler: r.runtimeHandler,
  };
}

/** The namespace modes the pod asked for (POD when unset). */
export function sandboxNamespaceOptions(r: SandboxRecord): { network: number; pid: number; ipc: number } {
  const linux = r.config.linux as JsonObject | undefined;
  const sc = linux?.securityContext as JsonObject | undefined;
  const ns = sc?.namespaceOptions as JsonObject | undefined;
  return { network: Number(ns?.network ?? 0), pid: Number(ns?.pid ?? 0), ipc: Number(ns?.ipc ?? 0) };
}

function buildSandboxStatusMessage(r: SandboxRecord): runtime.v1.PodSandboxStatus.$Properties {
  const ns = sandboxNamespaceOptions(r);
  return {
    id: r.id, metadata: { ...r.metadata }, state: sandboxStateOf(r), createdAt: int64(r.createdAt),
    network: { ip: r.ip, additionalIps: r.additionalIps.map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: ns.network, pid: ns.pid, ipc: ns.ipc } } },
    labels: { ...labelsOf(r) }, annotations: annotationsOf(r), runtimeHandler: r.runtimeHandler,
  };
}
