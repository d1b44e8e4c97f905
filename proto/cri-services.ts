// CRI runtime.v1 method tables and the grpc-js ServiceDefinitions built from them. The tables
// are the single list of CRI methods: the server binds handlers to them, the client wraps them.
import type * as grpc from '@grpc/grpc-js';
import { runtime } from './gen/cri.js';
import { encodeWithCache, type CachedField, type Encoder } from './encode-cache.js';
import type { MessageType, PropsOf } from './message-type.js';

const v1 = runtime.v1;

export const RUNTIME_SERVICE = 'runtime.v1.RuntimeService';
export const IMAGE_SERVICE = 'runtime.v1.ImageService';

/** A generated CRI message class: static encode/decode plus its constructor (instance type). */
export type CriMessageClass = MessageType<any> & (abstract new (...args: any[]) => unknown);

export interface CriMethod<Q extends CriMessageClass, R extends CriMessageClass, S extends boolean> {
  requestType: Q;
  responseType: R;
  /** Server streaming (the CRI has no client streaming). */
  responseStream: S;
}

const unary = <Q extends CriMessageClass, R extends CriMessageClass>(q: Q, r: R): CriMethod<Q, R, false> => ({
  requestType: q, responseType: r, responseStream: false,
});
const stream = <Q extends CriMessageClass, R extends CriMessageClass>(q: Q, r: R): CriMethod<Q, R, true> => ({
  requestType: q, responseType: r, responseStream: true,
});

export const runtimeServiceMethods = {
  Version: unary(v1.VersionRequest, v1.VersionResponse),
  RunPodSandbox: unary(v1.RunPodSandboxRequest, v1.RunPodSandboxResponse),
  StopPodSandbox: unary(v1.StopPodSandboxRequest, v1.StopPodSandboxResponse),
  RemovePodSandbox: unary(v1.RemovePodSandboxRequest, v1.RemovePodSandboxResponse),
  PodSandboxStatus: unary(v1.PodSandboxStatusRequest, v1.PodSandboxStatusResponse),
  ListPodSandbox: unary(v1.ListPodSandboxRequest, v1.ListPodSandboxResponse),
  StreamPodSandboxes: stream(v1.StreamPodSandboxesRequest, v1.StreamPodSandboxesResponse),
  CreateContainer: unary(v1.CreateContainerRequest, v1.CreateContainerResponse),
  StartContainer: unary(v1.StartContainerRequest, v1.StartContainerResponse),
  StopContainer: unary(v1.StopContainerRequest, v1.StopContainerResponse),
  RemoveContainer: unary(v1.RemoveContainerRequest, v1.RemoveContainerResponse),
  ListContainers: unary(v1.ListContainersRequest, v1.ListContainersResponse),
  StreamContainers: stream(v1.StreamContainersRequest, v1.StreamContainersResponse),
  ContainerStatus: unary(v1.ContainerStatusRequest, v1.ContainerStatusResponse),
  UpdateContainerResources: unary(v1.UpdateContainerResourcesRequest, v1.UpdateContainerResourcesResponse),
  ReopenContainerLog: unary(v1.ReopenContainerLogRequest, v1.ReopenContainerLogResponse),
  ExecSync: unary(v1.ExecSyncRequest, v1.ExecSyncResponse),
  Exec: unary(v1.ExecRequest, v1.ExecResponse),
  Attach: unary(v1.AttachRequest, v1.AttachResponse),
  PortForward: unary(v1.PortForwardRequest, v1.PortForwardResponse),
  ContainerStats: unary(v1.ContainerStatsRequest, v1.ContainerStatsResponse),
  ListContainerStats: unary(v1.ListContainerStatsRequest, v1.ListContainerStatsResponse),
  StreamContainerStats: stream(v1.StreamContainerStatsRequest, v1.StreamContainerStatsResponse),
  PodSandboxStats: unary(v1.PodSandboxStatsRequest, v1.PodSandboxStatsResponse),
  ListPodSandboxStats: unary(v1.ListPodSandboxStatsRequest, v1.ListPodSandboxStatsResponse),
  StreamPodSandboxStats: stream(v1.StreamPodSandboxStatsRequest, v1.StreamPodSandboxStatsResponse),
  UpdateRuntimeConfig: unary(v1.UpdateRuntimeConfigRequest, v1.UpdateRuntimeConfigResponse),
  Status: unary(v1.StatusRequest, v1.StatusResponse),
  CheckpointContainer: unary(v1.CheckpointContainerRequest, v1.CheckpointContainerResponse),
  GetContainerEvents: stream(v1.GetEventsRequest, v1.ContainerEventResponse),
  ListMetricDescriptors: unary(v1.ListMetricDescriptorsRequest, v1.ListMetricDescriptorsResponse),
  ListPodSandboxMetrics: unary(v1.ListPodSandboxMetricsRequest, v1.ListPodSandboxMetricsResponse),
  StreamPodSandboxMetrics: stream(v1.StreamPodSandboxMetricsRequest, v1.StreamPodSandboxMetricsResponse),
  RuntimeConfig: unary(v1.RuntimeConfigRequest, v1.RuntimeConfigResponse),
  UpdatePodSandboxResources: unary(v1.UpdatePodSandboxResourcesRequest, v1.UpdatePodSandboxResourcesResponse),
} as const;

export const imageServiceMethods = {
  ListImages: unary(v1.ListImagesRequest, v1.ListImagesResponse),
  StreamImages: stream(v1.StreamImagesRequest, v1.StreamImagesResponse),
  ImageStatus: unary(v1.ImageStatusRequest, v1.ImageStatusResponse),
  PullImage: unary(v1.PullImageRequest, v1.PullImageResponse),
  RemoveImage: unary(v1.RemoveImageRequest, v1.RemoveImageResponse),
  ImageFsInfo: unary(v1.ImageFsInfoRequest, v1.ImageFsInfoResponse),
} as const;

/**
 * Each Stream* method (KEP-5825, feature gate CRIListStreaming) and the unary list whose reply it
 * sends in parts: that reply's repeated field (`from`), of `item`s, goes out as field 1 of the
 * Stream*Response (proto/list-chunks.ts).
 */
export const LIST_STREAMS = {
  StreamPodSandboxes: { list: 'ListPodSandbox', from: 'items', item: v1.PodSandbox },
  StreamContainers: { list: 'ListContainers', from: 'containers', item: v1.Container },
  StreamContainerStats: { list: 'ListContainerStats', from: 'stats', item: v1.ContainerStats },
  StreamPodSandboxStats: { list: 'ListPodSandboxStats', from: 'stats', item: v1.PodSandboxStats },
  StreamPodSandboxMetrics: { list: 'ListPodSandboxMetrics', from: 'podMetrics', item: v1.PodSandboxMetrics },
  StreamImages: { list: 'ListImages', from: 'images', item: v1.Image },
} as const satisfies Record<string, { list: string; from: string; item: Encoder }>;
export type ListStream = (typeof LIST_STREAMS)[keyof typeof LIST_STREAMS];

export type RuntimeServiceMethods = typeof runtimeServiceMethods;
export type ImageServiceMethods = typeof imageServiceMethods;
export type CriMethodTable = Record<string, CriMethod<CriMessageClass, CriMessageClass, boolean>>;

/** What a caller sends for method K: the plain-object request. */
export type CriRequest<T extends CriMethodTable, K extends keyof T> = PropsOf<T[K]['requestType']>;
/** What a caller receives for method K: the decoded reply (unset scalars read as their zero). */
export type CriResponse<T extends CriMethodTable, K extends keyof T> = InstanceType<T[K]['responseType']>;
/** What a server handler returns for method K: a plain object. */
export type CriResponseInput<T extends CriMethodTable, K extends keyof T> = PropsOf<T[K]['responseType']>;
/** The names of the unary / server-streaming methods of a table. */
export type UnaryMethodNames<T extends CriMethodTable> = { [K in keyof T]: T[K]['responseStream'] extends false ? K : never }[keyof T];
export type StreamMethodNames<T extends CriMethodTable> = { [K in keyof T]: T[K]['responseStream'] extends true ? K : never }[keyof T];

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The response fields encoded through proto/encode-cache.ts: the per-record messages of the reads
 * kubelet repeats (field numbers from the CRI api.proto).
 */
const CACHED_FIELDS = new Map<unknown, readonly CachedField[]>([
  [v1.ListContainersResponse, [{ name: 'containers', field: 1, type: v1.Container, repeated: true }]],
  [v1.ListPodSandboxResponse, [{ name: 'items', field: 1, type: v1.PodSandbox, repeated: true }]],
  [v1.ContainerStatusResponse, [{ name: 'status', field: 1, type: v1.ContainerStatus }]],
  [v1.PodSandboxStatusResponse, [
    { name: 'status', field: 1, type: v1.PodSandboxStatus },
    { name: 'containersStatuses', field: 3, type: v1.ContainerStatus, repeated: true },
  ]],
]);

/** The Stream* replies, which the server writes already encoded (proto/list-chunks.ts). */
const PRE_ENCODED = new Set<unknown>([
  v1.StreamPodSandboxesResponse, v1.StreamContainersResponse, v1.StreamContainerStatsResponse,
  v1.StreamPodSandboxStatsResponse, v1.StreamPodSandboxMetricsResponse, v1.StreamImagesResponse,
]);

function responseSerializer(type: CriMessageClass): (value: unknown) => Buffer {
  if (PRE_ENCODED.has(type)) return (value) => (Buffer.isBuffer(value) ? value : toBuffer(type.encode(value).finish()));
  const cached = CACHED_FIELDS.get(type);
  // Every generated class's encode appends to a protobufjs Writer (encode(message, writer?)).
  if (cached) return (value) => toBuffer(encodeWithCache(type as unknown as Encoder, value as Record<string, unknown>, cached));
  return (value) => toBuffer(type.encode(value).finish());
}

/** A grpc-js ServiceDefinition (paths /<service>/<Method>) from a CRI method table. */
export function serviceDefinition(serviceName: string, table: CriMethodTable): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(table)) {
    def[name] = {
      path: `/${serviceName}/${name}`,
      requestStream: false,
      responseStream: m.responseStream,
      requestSerialize: (value) => toBuffer(m.requestType.encode(value).finish()),
      requestDeserialize: (bytes) => m.requestType.decode(bytes),
      responseSerialize: responseSerializer(m.responseType),
      responseDeserialize: (bytes) => m.responseType.decode(bytes),
      originalName: name.charAt(0).toLowerCase() + name.slice(1),
    };
  }
  return def;
}

/** grpc-js definition of runtime.v1.RuntimeService, for `server.addService`. */
export const runtimeServiceDefinition = serviceDefinition(RUNTIME_SERVICE, runtimeServiceMethods);
/** grpc-js definition of runtime.v1.ImageService, for `server.addService`. */
export const imageServiceDefinition = serviceDefinition(IMAGE_SERVICE, imageServiceMethods);
