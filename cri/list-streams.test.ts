// The Stream* list calls (KEP-5825) over berth's gRPC server (cri/grpc) and a grpc-js client with kubelet's 16 MiB
// reply limit: a list too big for one ListContainers reply arrives whole through StreamContainers,
// in messages under the budget; the stream answers what the list answers for the same filter,
// errors as the list errs, and UNIMPLEMENTED where berth has no such list (kubelet falls back).
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, isKind, silentLogger } from '../common/index.js';
import {
  IMAGE_SERVICE, KUBELET_MAX_MESSAGE_BYTES, RUNTIME_SERVICE, STREAM_CHUNK_BYTES, createCriClients, imageServiceDefinition,
  imageServiceMethods, runtime, runtimeServiceDefinition, runtimeServiceMethods, type CriClients,
} from '../proto/cri.js';
import { GrpcServer } from './grpc/index.js';
import { instrument } from './service.js';

const v1 = runtime.v1;
// 20,000 containers of ~1.1 KiB each: ~22 MB, past kubelet's 16 MiB for one reply.
const CONTAINERS = Object.freeze(Array.from({ length: 20_000 }, (_, i) => Object.freeze({
  id: i.toString(16).padStart(64, '0'), podSandboxId: 'f'.repeat(64), metadata: { name: `ctr-${i}`, attempt: 0 },
  image: { image: 'sha256:'.padEnd(71, 'a') }, imageRef: 'sha256:'.padEnd(71, 'a'), imageId: 'sha256:'.padEnd(71, 'a'),
  state: v1.ContainerState.CONTAINER_RUNNING, createdAt: 1_700_000_000_000_000_000 + i,
  labels: { 'io.kubernetes.pod.name': `pod-${i}`, even: i % 2 === 0 ? 'yes' : 'no' }, annotations: { note: 'n'.repeat(800) },
})));

type Filter = runtime.v1.IContainerFilter | null | undefined;
const matching = (f: Filter) => CONTAINERS.filter((c) => Object.entries(f?.labelSelector ?? {}).every(([k, v]) => (c.labels as Record<string, string>)[k] === v));

let dir: string;
let server: GrpcServer;
let cri: CriClients;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-list-streams-'));
  const address = path.join(dir, 'cri.sock');
  // the limits of cri/server.ts serveCri
  server = new GrpcServer({ log: silentLogger, maxReceiveBytes: 16 * 1024 * 1024, maxSendBytes: 32 * 1024 * 1024 });
  server.addService(runtimeServiceDefinition, instrument(RUNTIME_SERVICE, runtimeServiceMethods, {
    ListContainers: (req) => ({ containers: matching(req.filter) }),
    ListPodSandbox: () => { throw new NotFoundError('no such pod table'); },
    ListContainerStats: async () => ({ stats: [] }),
  }, silentLogger));
  server.addService(imageServiceDefinition, instrument(IMAGE_SERVICE, imageServiceMethods, Promise.resolve({
    ListImages: () => ({ images: [{ id: 'sha256:'.padEnd(71, 'b'), repoTags: ['busybox:latest'], size: 1, pinned: true }] }),
  }), silentLogger));
  await server.listen(address);
  cri = createCriClients(address, { timeoutMs: 60_000 });
});
afterAll(async () => {
  cri?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every message of a server stream, or the error it ended with. */
async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const m of stream) out.push(m);
  return out;
}

describe('Stream* list calls', () => {
  it('deliver a list too large for one 16 MiB reply, in messages under the budget', async () => {
    const err = await cri.runtime.ListContainers({}).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, 'resource-exhausted')).toBe(true); // what kubelet gets from ListContainers on such a node
    const messages = await collect<runtime.v1.StreamContainersResponse>(cri.runtime.StreamContainers({}));
    expect(messages.length).toBeGreaterThanOrEqual(Math.ceil(22_000_000 / STREAM_CHUNK_BYTES));
    for (const m of messages) {
      expect(m.containers.length).toBeGreaterThan(0);
      expect(v1.StreamContainersResponse.encode(m).finish().length).toBeLessThanOrEqual(Math.min(STREAM_CHUNK_BYTES, KUBELET_MAX_MESSAGE_BYTES));
    }
    expect(messages.flatMap((m) => m.containers.map((c) => c.id))).toEqual(CONTAINERS.map((c) => c.id));
    expect(JSON.stringify(messages[0]!.containers[0])).toBe(JSON.stringify(v1.Container.decode(v1.Container.encode(CONTAINERS[0]!).finish())));
  }, 120_000);

  it('answer what the list answers for the same filter', async () => {
    const filter = { labelSelector: { even: 'yes' } };
    const listed = (await cri.runtime.ListContainers({ filter })).containers.map((c) => c.id);
    const streamed = (await collect<runtime.v1.StreamContainersResponse>(cri.runtime.StreamContainers({ filter }))).flatMap((m) => m.containers.map((c) => c.id));
    expect(listed).toHaveLength(10_000);
    expect(streamed).toEqual(listed);
    const images = await collect<runtime.v1.StreamImagesResponse>(cri.image.StreamImages({}));
    expect(images.flatMap((m) => m.images.map((i) => [i.repoTags?.[0], i.pinned]))).toEqual([['busybox:latest', true]]);
  }, 60_000);

  it('end at once for an empty list, fail as the list fails, and are UNIMPLEMENTED where the list is', async () => {
    expect(await collect(cri.runtime.StreamContainerStats({}))).toEqual([]);
    await expect(collect(cri.runtime.StreamPodSandboxes({}))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: expect.stringContaining('no such pod table') });
    await expect(collect(cri.runtime.StreamPodSandboxMetrics({})))
      .rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED, details: expect.stringContaining('ListPodSandboxMetrics is not implemented') });
    // a client that cancels after the first message: the server stops, and still serves
    const stream = cri.runtime.StreamContainers({});
    const first = await new Promise((resolve) => stream.once('data', resolve));
    expect(first).toBeInstanceOf(v1.StreamContainersResponse);
    stream.cancel();
    await expect(collect(stream)).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect((await cri.runtime.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.name': 'pod-7' } } })).containers).toHaveLength(1);
  });
});
