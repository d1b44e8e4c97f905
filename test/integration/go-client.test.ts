// A real Go gRPC client (grpc-go 1.33 from Debian, test/helpers/go-cri.ts) against a real berth
// daemon, under each runtime handler: a whole pod life, dialled as kubelet and crictl 1.26 dial
// (the socket path as target, so the path goes out as :authority) and as newer clients dial
// (unix://), over one kept connection and over a new connection per call. Replies decode with
// berth's protobuf code, so they are compared with what the grpc-js client gets. docs/clients.md.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Code, isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { buildGoCri, startGoCri, type GoCriClients, type GoCriOptions } from '../helpers/go-cri.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, until, useBerth, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const HOST_NETWORK = { linux: { securityContext: { namespaceOptions: { network: v1.NamespaceMode.NODE } } } };

const MODES: Array<Required<Pick<GoCriOptions, 'dial' | 'conn'>>> = [
  { dial: 'unix', conn: 'kept' },
  { dial: 'unix', conn: 'per-call' },
  { dial: 'bare', conn: 'kept' },
  { dial: 'bare', conn: 'per-call' },
];

describe.each(CRI_HANDLERS)('a Go CRI client (grpc-go 1.33) on the %s shim', (handler) => {
  const berth = useBerth({ handler });
  let b: Berth;
  beforeAll(async () => {
    await buildGoCri();
  }, 600_000);
  beforeEach(() => {
    b = berth();
  });

  describe.each(MODES)('dial $dial, connection $conn', ({ dial, conn }) => {
    let go: GoCriClients | undefined;
    beforeAll(async () => {
      go = await startGoCri(berth().address, { dial, conn });
    });
    afterAll(async () => {
      await go?.close();
    });

    it('runs a pod and a container from RunPodSandbox to RemovePodSandbox', async () => {
      const cri = go!.runtime;
      const v = await cri.Version({ version: 'v1' });
      expect([v.runtimeName, v.runtimeApiVersion]).toEqual(['berth', 'v1']);
      expect(v).toEqual(await b.cri.runtime.Version({ version: 'v1' }));

      // A server stream through grpc-go, opened before anything it should report.
      const events: Array<[string, number]> = [];
      const stream = go!.runtimeStream('GetContainerEvents', {}, (e) => events.push([e.containerId, e.containerEventType]));
      const config = podConfig(b, `go-${dial}-${conn}`, HOST_NETWORK);
      const { podSandboxId: pod } = await cri.RunPodSandbox({ config });
      let ctr = '';
      expect(pod).toMatch(/^[0-9a-f]{64}$/);
      try {
        const ps = await cri.PodSandboxStatus({ podSandboxId: pod });
        expect(ps.status!.state).toBe(v1.PodSandboxState.SANDBOX_READY);
        expect(ps.status!.metadata).toEqual(expect.objectContaining({ name: config.metadata.name, uid: config.metadata.uid }));
        expect(ps.status!.linux!.namespaces!.options!.network).toBe(v1.NamespaceMode.NODE);
        // Equal through both clients, but for the moment each status was taken (evented PLEG's timestamp).
        const viaJs = await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod });
        expect(Number(ps.timestamp)).toBeGreaterThan(0);
        expect({ ...ps, timestamp: 0 }).toEqual({ ...viaJs, timestamp: 0 });

        const label = `${handler}-${dial}-${conn}`;
        ({ containerId: ctr } = await cri.CreateContainer({
          podSandboxId: pod, sandboxConfig: config,
          config: {
            metadata: { name: 'sleeper', attempt: 0 }, image: { image: LOCAL_BUSYBOX }, labels: { 'go-client': label },
            command: ['/bin/sh', '-c', 'echo started; exec sleep 600'], logPath: 'sleeper/0.log',
          },
        }));
        expect((await cri.ContainerStatus({ containerId: ctr })).status!.state).toBe(v1.ContainerState.CONTAINER_CREATED);
        await cri.StartContainer({ containerId: ctr });
        const cs = (await cri.ContainerStatus({ containerId: ctr })).status!;
        expect(cs.state).toBe(v1.ContainerState.CONTAINER_RUNNING);
        expect(cs.id).toBe(ctr);
        expect(Number(cs.startedAt)).toBeGreaterThanOrEqual(Number(cs.createdAt));
        expect(cs.labels).toEqual({ 'go-client': label });

        const ex = await cri.ExecSync({ containerId: ctr, cmd: ['/bin/sh', '-c', 'echo go-$((6 * 7)); echo to-stderr >&2; exit 3'], timeout: 10 });
        expect([Buffer.from(ex.stdout).toString(), Buffer.from(ex.stderr).toString(), ex.exitCode]).toEqual(['go-42\n', 'to-stderr\n', 3]);

        const listed = await cri.ListContainers({ filter: { labelSelector: { 'go-client': label } } });
        expect(listed.containers.map((c) => [c.id, c.podSandboxId, c.state])).toEqual([[ctr, pod, v1.ContainerState.CONTAINER_RUNNING]]);
        expect((await cri.ListContainers({ filter: { labelSelector: { 'go-client': `${label}-none` } } })).containers).toEqual([]);

        await cri.StopPodSandbox({ podSandboxId: pod });
        expect((await cri.PodSandboxStatus({ podSandboxId: pod })).status!.state).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
        const stopped = (await cri.ContainerStatus({ containerId: ctr })).status!;
        expect(stopped.state).toBe(v1.ContainerState.CONTAINER_EXITED);
        expect(stopped.exitCode).toBe(137); // StopPodSandbox kills its containers
      } finally {
        await cri.RemovePodSandbox({ podSandboxId: pod });
      }
      await expect(cri.PodSandboxStatus({ podSandboxId: pod })).rejects.toSatisfy((e) => isKind(e, 'not-found'));
      expect((await cri.ListPodSandbox({ filter: { id: pod } })).items).toEqual([]);

      const T = v1.ContainerEventType;
      await until(() => events.filter(([id]) => id === ctr).length >= 4, 'four events of the container');
      expect(events.filter(([id]) => id === ctr).map(([, type]) => type)).toEqual([
        T.CONTAINER_CREATED_EVENT, T.CONTAINER_STARTED_EVENT, T.CONTAINER_STOPPED_EVENT, T.CONTAINER_DELETED_EVENT,
      ]);
      stream.cancel();
      await expect(stream.done).rejects.toSatisfy((e) => isKind(e, 'cancelled'));
    }, 120_000);

    it('carries error statuses and concurrent calls', async () => {
      const cri = go!.runtime;
      const [missing, version, images] = await Promise.allSettled([
        cri.ContainerStatus({ containerId: 'no-such-container' }),
        cri.Version({}),
        go!.image.ImageStatus({ image: { image: LOCAL_BUSYBOX } }),
      ]);
      expect(missing.status).toBe('rejected');
      const err = (missing as PromiseRejectedResult).reason as { code: number; message: string };
      expect([isKind(err, 'not-found'), err.code]).toEqual([true, Code.NOT_FOUND]);
      expect(err.message).toContain('no-such-container');
      expect(version.status === 'fulfilled' && version.value.runtimeName).toBe('berth');
      expect(images.status === 'fulfilled' && images.value.image!.repoTags).toContain(LOCAL_BUSYBOX);
    });

    it('times a loop of calls inside Go (the bench\'s light calls) and ends it at the first failure with its status', async () => {
      const perCall = conn === 'per-call';
      const us = await go!.imageLoop('ImageStatus', [{ image: { image: LOCAL_BUSYBOX } }], { count: 12, perCall, parallel: 3 });
      expect(us).toHaveLength(12);
      expect(us.every((t) => Number.isInteger(t) && t > 0 && t < 60_000_000)).toBe(true);
      const failing = go!.runtimeLoop('ContainerStatus', [{ containerId: 'no-such-container' }], { count: 5, perCall });
      await expect(failing).rejects.toMatchObject({ code: Code.NOT_FOUND });
      if (perCall) {
        // A client started with a connection per call has no kept connection for a loop to share.
        await expect(go!.runtimeLoop('Version', [{}], { count: 1 })).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
      }
    });
  });
});
