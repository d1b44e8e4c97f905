// CRI runtime.v1: the service tables are complete with the right streaming flags, a few
// messages encode with upstream field numbers, and the grpc-js definitions work end to end.
import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NotFoundError, isKind } from '../common/index.js';
import {
  createCriClients, imageServiceDefinition, imageServiceMethods, runtime, runtimeServiceDefinition,
  runtimeServiceMethods, type CriClients,
} from './cri.js';

const v1 = runtime.v1;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

// Every RuntimeService method and whether it streams replies (cri-api at commit 0268656a).
const RUNTIME_METHODS: Record<string, boolean> = {
  Version: false, RunPodSandbox: false, StopPodSandbox: false, RemovePodSandbox: false, PodSandboxStatus: false,
  ListPodSandbox: false, StreamPodSandboxes: true, CreateContainer: false, StartContainer: false,
  StopContainer: false, RemoveContainer: false, ListContainers: false, StreamContainers: true,
  ContainerStatus: false, UpdateContainerResources: false, ReopenContainerLog: false, ExecSync: false,
  Exec: false, Attach: false, PortForward: false, ContainerStats: false, ListContainerStats: false,
  StreamContainerStats: true, PodSandboxStats: false, ListPodSandboxStats: false, StreamPodSandboxStats: true,
  UpdateRuntimeConfig: false, Status: false, CheckpointContainer: false, GetContainerEvents: true,
  ListMetricDescriptors: false, ListPodSandboxMetrics: false, StreamPodSandboxMetrics: true,
  RuntimeConfig: false, UpdatePodSandboxResources: false,
};
const IMAGE_METHODS: Record<string, boolean> = {
  ListImages: false, StreamImages: true, ImageStatus: false, PullImage: false, RemoveImage: false, ImageFsInfo: false,
};

describe('CRI service definitions', () => {
  it('list every RuntimeService method with its path and streaming flags', () => {
    expect(Object.keys(runtimeServiceMethods).sort()).toEqual(Object.keys(RUNTIME_METHODS).sort());
    for (const [name, streams] of Object.entries(RUNTIME_METHODS)) {
      const d = runtimeServiceDefinition[name]!;
      expect(d.path).toBe(`/runtime.v1.RuntimeService/${name}`);
      expect([d.requestStream, d.responseStream]).toEqual([false, streams]);
    }
  });

  it('list every ImageService method with its path and streaming flags', () => {
    expect(Object.keys(imageServiceMethods).sort()).toEqual(Object.keys(IMAGE_METHODS).sort());
    for (const [name, streams] of Object.entries(IMAGE_METHODS)) {
      const d = imageServiceDefinition[name]!;
      expect(d.path).toBe(`/runtime.v1.ImageService/${name}`);
      expect([d.requestStream, d.responseStream]).toEqual([false, streams]);
    }
  });

  it('pair GetContainerEvents with GetEventsRequest -> stream ContainerEventResponse', () => {
    expect(runtimeServiceMethods.GetContainerEvents.requestType).toBe(v1.GetEventsRequest);
    expect(runtimeServiceMethods.GetContainerEvents.responseType).toBe(v1.ContainerEventResponse);
  });
});

describe('CRI field numbers (bytes)', () => {
  it('VersionResponse: fields 1..4', () => {
    const b = v1.VersionResponse.encode({ version: '0.1.0', runtimeName: 'berth', runtimeVersion: '1', runtimeApiVersion: 'v1' }).finish();
    expect(hex(b)).toBe('0a05' + ascii('0.1.0') + '1205' + ascii('berth') + '1a01' + ascii('1') + '2202' + ascii('v1'));
  });

  it('LinuxSandboxSecurityContext: run_as_group is 8, supplemental_groups_policy 11', () => {
    const b = v1.LinuxSandboxSecurityContext.encode({ runAsGroup: { value: 7 }, supplementalGroupsPolicy: v1.SupplementalGroupsPolicy.Strict }).finish();
    expect(hex(b)).toBe('42020807' + '5801');
  });

  it('ContainerConfig: stop_signal 18, CDI_devices 17, image 2', () => {
    const b = v1.ContainerConfig.encode({
      image: { image: 'busybox' }, CDIDevices: [{ name: 'x' }], stopSignal: v1.Signal.SIGTERM,
    }).finish();
    expect(hex(b)).toBe('1209' + '0a07' + ascii('busybox') + '8a0103' + '0a01' + ascii('x') + '900117');
  });

  it('ContainerStatus: int64 nanoseconds decode as numbers; exit_code 7, reason 10', () => {
    // ~1.7e18 ns is above 2^53: the number keeps ~256 ns precision and round-trips exactly.
    const ns = Number(1_700_000_000_123_456_789n);
    const b = v1.ContainerStatus.encode({ finishedAt: ns, exitCode: 137, reason: 'OOMKilled' }).finish();
    const back = v1.ContainerStatus.decode(b);
    expect(typeof back.finishedAt).toBe('number');
    expect(back.finishedAt).toBe(ns);
    expect(hex(b).endsWith('38890152' + '09' + ascii('OOMKilled'))).toBe(true);
  });

  it('ContainerEventResponse: event type 2, created_at 3, statuses 5', () => {
    const b = v1.ContainerEventResponse.encode({
      containerId: 'c', containerEventType: v1.ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: 5,
      containersStatuses: [{ id: 'c' }],
    }).finish();
    expect(hex(b)).toBe('0a01' + ascii('c') + '1002' + '1805' + '2a03' + '0a01' + ascii('c'));
  });

  it('PsiData keeps upstream capitalised names and double fields', () => {
    const b = v1.PsiData.encode({ Total: 1, Avg10: 0.5 }).finish();
    expect(hex(b)).toBe('0801' + '11' + '000000000000e03f');
  });
});

describe('CRI over grpc-js on a unix socket', () => {
  let server: grpc.Server | undefined;
  let clients: CriClients | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    clients?.close();
    if (server) {
      const s = server;
      await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    server = undefined;
    clients = undefined;
    dir = undefined;
  });

  async function start(runtimeImpl: grpc.UntypedServiceImplementation): Promise<string> {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-proto-cri-'));
    const sock = path.join(dir, 'cri.sock');
    server = new grpc.Server();
    server.addService(runtimeServiceDefinition, runtimeImpl);
    const s = server;
    await new Promise<void>((resolve, reject) =>
      s.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    return sock;
  }

  it('answers Version through the generated definitions', async () => {
    const seen: string[] = [];
    const sock = await start({
      Version: (call: grpc.ServerUnaryCall<runtime.v1.VersionRequest, unknown>, cb: grpc.sendUnaryData<runtime.v1.VersionResponse.$Properties>) => {
        seen.push(call.request.version);
        cb(null, { version: '0.1.0', runtimeName: 'berth', runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' });
      },
    });
    clients = createCriClients(sock, { timeoutMs: 10_000 });
    const res = await clients.runtime.Version({ version: 'v1' });
    expect(seen).toEqual(['v1']);
    expect(res.runtimeName).toBe('berth');
    expect(res.runtimeApiVersion).toBe('v1');
  });

  it('turns a handler status into the matching BerthError kind', async () => {
    const sock = await start({
      ContainerStatus: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        const e = new NotFoundError('container "x" not found');
        cb({ code: e.code, details: e.message });
      },
    });
    clients = createCriClients(sock, { timeoutMs: 10_000 });
    const err = await clients.runtime.ContainerStatus({ containerId: 'x' }).catch((e: unknown) => e);
    expect(isKind(err, 'not-found')).toBe(true);
    expect((err as Error).message).toBe('container "x" not found');
  });

  it('streams GetContainerEvents replies to the client', async () => {
    const sock = await start({
      GetContainerEvents: (call: grpc.ServerWritableStream<unknown, runtime.v1.ContainerEventResponse.$Properties>) => {
        call.write({ containerId: 'a', containerEventType: v1.ContainerEventType.CONTAINER_CREATED_EVENT, createdAt: 1 });
        call.write({ containerId: 'a', containerEventType: v1.ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: 2 });
        call.end();
      },
    });
    clients = createCriClients(sock, { timeoutMs: 10_000 });
    const got: [string, number, number][] = [];
    for await (const ev of clients.runtime.GetContainerEvents({}, { timeoutMs: 10_000 })) {
      got.push([ev.containerId, ev.containerEventType, ev.createdAt]);
    }
    expect(got).toEqual([['a', 0, 1], ['a', 1, 2]]);
  });

  it('answers UNIMPLEMENTED for a method without a handler', async () => {
    const sock = await start({});
    clients = createCriClients(sock, { timeoutMs: 10_000 });
    const err = await clients.runtime.StreamPodSandboxes({}).toArray().catch((e: unknown) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
    const unary = await clients.image.ImageFsInfo({}).catch((e: unknown) => e);
    expect(unary).toMatchObject({ kind: 'unimplemented' });
  });

  it('refuses an address that is not a unix socket', () => {
    expect(() => createCriClients('localhost:1234')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});
