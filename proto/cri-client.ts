// A typed CRI client for tests and the CLI: promise-returning unary calls, a readable stream
// for server-streaming ones (GetContainerEvents, Stream*). Failures reject with BerthErrors.
import * as grpc from '@grpc/grpc-js';
import { errorFromCode, InvalidArgumentError, type BerthError } from '../common/index.js';
import {
  IMAGE_SERVICE, RUNTIME_SERVICE, imageServiceDefinition, imageServiceMethods, runtimeServiceDefinition,
  runtimeServiceMethods, type CriMethodTable, type CriRequest, type CriResponse, type ImageServiceMethods,
  type RuntimeServiceMethods, type StreamMethodNames, type UnaryMethodNames,
} from './cri-services.js';

export interface CriCallOptions {
  /** Deadline for this call; unary calls default to the client's timeoutMs, streams to none. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

export type CriClient<T extends CriMethodTable> = {
  [K in UnaryMethodNames<T>]: (request: CriRequest<T, K>, options?: CriCallOptions) => Promise<CriResponse<T, K>>;
} & {
  [K in StreamMethodNames<T>]: (request: CriRequest<T, K>, options?: CriCallOptions) => grpc.ClientReadableStream<CriResponse<T, K>>;
};

export interface CriClients {
  runtime: CriClient<RuntimeServiceMethods>;
  image: CriClient<ImageServiceMethods>;
  /** Closes both channels; pending calls fail with CANCELLED. */
  close(): void;
}

export interface CriClientOptions {
  /** Default deadline of unary calls (default 60 s). */
  timeoutMs?: number;
  /** Largest reply accepted (default 16 MiB, what kubelet and crictl accept; grpc-js alone takes 4 MiB). */
  maxReceiveBytes?: number;
  /** More grpc-js channel options (tests: compression). */
  channelOptions?: grpc.ChannelOptions;
}

/** The reply size limit of kubelet's and crictl's CRI client (k8s.io/cri-client maxMsgSize). */
export const KUBELET_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** `unix:` target for grpc-js from a socket path or an address that already has a scheme. */
export function criTarget(address: string): string {
  if (address.startsWith('unix:')) return address;
  if (address.startsWith('/')) return `unix:${address}`;
  throw new InvalidArgumentError(`CRI address must be a unix socket path or unix: URL, got "${address}"`);
}

/** A grpc ServiceError as the BerthError of its code (details kept as the message). */
export function errorFromGrpc(e: unknown): BerthError {
  const se = e as Partial<grpc.ServiceError>;
  const err = errorFromCode(typeof se.code === 'number' ? se.code : 2, se.details ?? String(e));
  (err as { cause?: unknown }).cause = e;
  return err;
}

type RawClient = Record<string, (...args: unknown[]) => unknown> & grpc.Client;

function wrap<T extends CriMethodTable>(raw: RawClient, table: T, defaultTimeoutMs: number): CriClient<T> {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(table)) {
    const call = raw[name]!.bind(raw);
    if (m.responseStream) {
      out[name] = (request: unknown, o: CriCallOptions = {}) => {
        const opts: grpc.CallOptions = o.timeoutMs ? { deadline: Date.now() + o.timeoutMs } : {};
        return call(request, o.metadata ?? new grpc.Metadata(), opts);
      };
    } else {
      out[name] = (request: unknown, o: CriCallOptions = {}) =>
        new Promise((resolve, reject) => {
          const opts: grpc.CallOptions = { deadline: Date.now() + (o.timeoutMs ?? defaultTimeoutMs) };
          call(request, o.metadata ?? new grpc.Metadata(), opts, (err: grpc.ServiceError | null, res: unknown) => {
            if (err) reject(errorFromGrpc(err));
            else resolve(res);
          });
        });
    }
  }
  return out as CriClient<T>;
}

const RuntimeClient = grpc.makeGenericClientConstructor(runtimeServiceDefinition, RUNTIME_SERVICE);
const ImageClient = grpc.makeGenericClientConstructor(imageServiceDefinition, IMAGE_SERVICE);

/** Typed RuntimeService + ImageService clients on one unix socket (plaintext, like kubelet). */
export function createCriClients(address: string, options: CriClientOptions = {}): CriClients {
  const target = criTarget(address);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const creds = grpc.credentials.createInsecure();
  const channel = { 'grpc.max_receive_message_length': options.maxReceiveBytes ?? KUBELET_MAX_MESSAGE_BYTES, ...options.channelOptions };
  const rawRuntime = new RuntimeClient(target, creds, channel) as unknown as RawClient;
  const rawImage = new ImageClient(target, creds, channel) as unknown as RawClient;
  return {
    runtime: wrap(rawRuntime, runtimeServiceMethods, timeoutMs),
    image: wrap(rawImage, imageServiceMethods, timeoutMs),
    close() {
      rawRuntime.close();
      rawImage.close();
    },
  };
}
