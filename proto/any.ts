// google.protobuf.Any helpers and the type URLs containerd 1.6 uses. Its type URLs are bare
// message names (no type.googleapis.com/ prefix); OCI structs travel as JSON under their own URLs.
import { InvalidArgumentError } from '../common/index.js';
import type { google } from './gen/containerd.js';
import type { MessageType } from './message-type.js';

export type AnyProps = google.protobuf.Any.$Properties;

/** ExecProcessRequest.spec: an OCI runtime-spec Process object as JSON. */
export const OCI_PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
/** UpdateTaskRequest.resources: an OCI runtime-spec LinuxResources object as JSON. */
export const OCI_LINUX_RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** CreateTaskRequest.options (and the `start` stdin) for the runc shim. */
export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';
/** ProcessInfo.info for exec processes in a Pids reply. */
export const RUNC_PROCESS_DETAILS_TYPE_URL = 'containerd.runc.v1.ProcessDetails';
/** StatsResponse.stats on a cgroup v1 / v2 host. */
export const CGROUPS_V1_METRICS_TYPE_URL = 'io.containerd.cgroups.v1.Metrics';
export const CGROUPS_V2_METRICS_TYPE_URL = 'io.containerd.cgroups.v2.Metrics';

/** An Any from a type URL and already-encoded bytes. */
export function packAny(typeUrl: string, value: Uint8Array): { type_url: string; value: Uint8Array } {
  return { type_url: typeUrl, value };
}

/** An Any holding `message` encoded with `type`. */
export function packMessage<T>(typeUrl: string, type: MessageType<T>, message: T): { type_url: string; value: Uint8Array } {
  return packAny(typeUrl, type.encode(message).finish());
}

/** Decodes an Any that must carry `typeUrl`; anything else is InvalidArgument. */
export function unpackMessage<T>(any: AnyProps | null | undefined, typeUrl: string, type: MessageType<T>): T {
  if (!any) throw new InvalidArgumentError(`expected ${typeUrl}, got no value`);
  if (any.type_url !== typeUrl) throw new InvalidArgumentError(`expected ${typeUrl}, got type URL "${any.type_url ?? ''}"`);
  return decodeMessage(type, any.value ?? new Uint8Array(0), typeUrl);
}

/** Decodes bytes; malformed input becomes InvalidArgument instead of a protobufjs Error. */
export function decodeMessage<T>(type: MessageType<T>, bytes: Uint8Array, what: string): T {
  try {
    return type.decode(bytes);
  } catch (e) {
    throw new InvalidArgumentError(`cannot decode ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** An Any holding `value` as JSON (OCI Process / LinuxResources). */
export function packJson(typeUrl: string, value: unknown): { type_url: string; value: Uint8Array } {
  return packAny(typeUrl, new TextEncoder().encode(JSON.stringify(value)));
}

/** The JSON object inside an Any. Like the runc shim, the type URL is not checked. */
export function unpackJson<T = unknown>(any: AnyProps | null | undefined): T {
  if (!any?.value?.length) throw new InvalidArgumentError('expected a JSON Any, got no value');
  try {
    return JSON.parse(new TextDecoder().decode(any.value)) as T;
  } catch (e) {
    throw new InvalidArgumentError(`invalid JSON in Any ${any.type_url ?? ''}: ${(e as Error).message}`, { cause: e });
  }
}
