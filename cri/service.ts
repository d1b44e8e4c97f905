// Binds the CRI methods (cri/runtime, cri/image-methods) to the CRI service definitions (cri/grpc).
// `instrument` wraps every handler once: it logs the call, and turns whatever a handler throws
// into a gRPC status through common `toStatus` — the only place in cri/ where that happens.
// Methods without an implementation answer UNIMPLEMENTED with the reason. The Stream* list calls
// come from their ListX handlers (cri/list-streams.ts).
import { UnimplementedError, toStatus, type Logger } from '../common/index.js';
import {
  imageServiceMethods, runtimeServiceMethods, type CriMethodTable, type CriResponseInput, type UnaryMethodNames, type runtime,
} from '../proto/cri-wire.js';
import type { ImageService } from '../image/index.js';
import { imageFsInfo, imageStatus, listImages, pullImage, removeImage } from './image-methods.js';
import type { Reply, ServerStream, ServiceImpl, UnaryCall, UnaryHandler } from './grpc/index.js';
import { observeUnary, type CallObserver } from './metrics/index.js';
import { failStream, listStreams } from './list-streams.js';
import {
  attachUrl, containerStats, containerStatus, createContainer, execSync, execUrl, listContainerStats, listContainers, listMetricDescriptors,
  listPodSandbox, listPodSandboxMetrics, listPodSandboxStats, podSandboxStats, podSandboxStatus, portForwardUrl, removeContainer, removePodSandbox, reopenContainerLog, runPodSandbox,
  runtimeConfig, startContainer, status, stopContainer, stopPodSandbox, toNum, updateContainerResources, updatePodSandboxResources, updateRuntimeConfig, version,
  type RuntimeDeps,
} from './runtime/index.js';

type Req<T extends CriMethodTable, K extends keyof T> = InstanceType<T[K]['requestType']>;
type Handlers<T extends CriMethodTable> = {
  [K in UnaryMethodNames<T>]?: (req: Req<T, K>) => Promise<CriResponseInput<T, K>> | CriResponseInput<T, K>;
};
type RT = typeof runtimeServiceMethods;
type IT = typeof imageServiceMethods;

const WHY_UNIMPLEMENTED: Record<string, string> = {
  CheckpointContainer: 'checkpoint/restore (CRIU) is not supported by berth, as by containerd 1.6',
};

export function runtimeHandlers(deps: RuntimeDeps): Handlers<RT> {
  const cid = (id: string | null | undefined) => deps.store.containers.resolveId(id ?? '');
  const sid = (id: string | null | undefined) => deps.store.sandboxes.resolveId(id ?? '');
  return {
    Version: () => version(),
    Status: (req) => status(deps, req.verbose === true),
    RuntimeConfig: () => runtimeConfig(deps),
    UpdateRuntimeConfig: (req) => { updateRuntimeConfig(deps, req); return {}; },
    RunPodSandbox: (req) => runPodSandbox(deps, req),
    // Stop* and Remove* resolve the id themselves: an unknown one is success (cri/runtime/known-id.ts).
    StopPodSandbox: async (req) => { await stopPodSandbox(deps, req.podSandboxId ?? ''); return {}; },
    RemovePodSandbox: async (req) => { await removePodSandbox(deps, req.podSandboxId ?? ''); return {}; },
    PodSandboxStatus: (req) => podSandboxStatus(deps, sid(req.podSandboxId), req.verbose === true),
    // The lists are frozen, kept answers (cri/runtime/lists.ts); nothing downstream changes them.
    ListPodSandbox: (req) => ({ items: listPodSandbox(deps, req.filter) as runtime.v1.PodSandbox.$Properties[] }),
    CreateContainer: (req) => createContainer(deps, req),
    StartContainer: async (req) => { await startContainer(deps, cid(req.containerId)); return {}; },
    StopContainer: async (req) => { await stopContainer(deps, req.containerId ?? '', toNum(req.timeout)); return {}; },
    RemoveContainer: async (req) => { await removeContainer(deps, req.containerId ?? ''); return {}; },
    ListContainers: (req) => ({ containers: listContainers(deps, req.filter) as runtime.v1.Container.$Properties[] }),
    ContainerStatus: (req) => containerStatus(deps, cid(req.containerId), req.verbose === true),
    UpdateContainerResources: async (req) => { await updateContainerResources(deps, cid(req.containerId), req); return {}; },
    UpdatePodSandboxResources: async (req) => { await updatePodSandboxResources(deps, sid(req.podSandboxId), req); return {}; },
    ReopenContainerLog: (req) => { reopenContainerLog(deps, cid(req.containerId)); return {}; },
    ExecSync: (req) => execSync(deps, cid(req.containerId), req.cmd ?? [], toNum(req.timeout)),
    Exec: (req) => execUrl(deps, cid(req.containerId), req),
    Attach: (req) => attachUrl(deps, cid(req.containerId), req),
    PortForward: (req) => portForwardUrl(deps, sid(req.podSandboxId), req),
    ContainerStats: async (req) => ({ stats: await containerStats(deps, deps.store.containers.get(cid(req.containerId))) }),
    ListContainerStats: async (req) => ({ stats: await listContainerStats(deps, req.filter) }),
    PodSandboxStats: async (req) => ({ stats: await podSandboxStats(deps, deps.store.sandboxes.get(sid(req.podSandboxId))) }),
    ListPodSandboxStats: async (req) => ({ stats: await listPodSandboxStats(deps, req.filter) }),
    ListMetricDescriptors: () => listMetricDescriptors(),
    ListPodSandboxMetrics: () => listPodSandboxMetrics(deps),
  };
}

/** `pinned`: the references of the images reported pinned (image-methods.ts pinnedRefs). */
export function imageHandlers(images: ImageService, pinned: readonly string[] = []): Handlers<IT> {
  return {
    PullImage: (req) => pullImage(images, req),
    ListImages: (req) => listImages(images, req, pinned),
    ImageStatus: (req) => imageStatus(images, req, pinned),
    RemoveImage: async (req) => { await removeImage(images, req); return {}; },
    ImageFsInfo: () => imageFsInfo(images),
  };
}

type GrpcStream = (call: ServerStream) => void;

/** Server handlers for a whole table: the given ones instrumented, Stream* from their lists, the rest UNIMPLEMENTED. */
export function instrument<T extends CriMethodTable>(
  service: string, table: T, handlers: Handlers<T> | Promise<Handlers<T>>, log: Logger, streams: Record<string, GrpcStream> = {},
  observe?: CallObserver,
): ServiceImpl {
  const out: ServiceImpl = {};
  let resolved: Handlers<T> | undefined;
  if (handlers instanceof Promise) handlers.then((h) => (resolved = h), () => undefined);
  else resolved = handlers;
  const fromLists = listStreams(table, handlers, log);
  for (const [name, m] of Object.entries(table)) {
    if (m.responseStream) {
      out[name] = streams[name] ?? fromLists[name]
        ?? ((call: ServerStream) => failStream(call, new UnimplementedError(`${service}/${name} is not implemented by berth`)));
      continue;
    }
    const done = (started: number, cb: Reply, res: unknown): void => {
      log.debug({ method: name, ms: Date.now() - started }, 'CRI call done');
      cb(null, res ?? {});
    };
    const failed = (started: number, cb: Reply, err: unknown): void => {
      const s = toStatus(err);
      log.warn({ method: name, code: s.code, err, ms: Date.now() - started }, 'CRI call failed');
      cb({ code: s.code, message: s.message });
    };
    const run = (h: Handlers<T>, call: UnaryCall, cb: Reply, started: number): void => {
      try {
        const fn = (h as Record<string, ((req: unknown) => unknown) | undefined>)[name];
        if (!fn) throw new UnimplementedError(`${name}: ${WHY_UNIMPLEMENTED[name] ?? 'not implemented by berth'}`);
        const res = fn(call.request);
        // A synchronous handler (the reads kubelet repeats) answers without a promise hop.
        if (res instanceof Promise) res.then((r) => done(started, cb, r), (err: unknown) => failed(started, cb, err));
        else done(started, cb, res);
      } catch (err) {
        failed(started, cb, err);
      }
    };
    const unary: UnaryHandler = (call, cb) => {
      const started = Date.now();
      log.debug({ method: name, request: call.request }, 'CRI call');
      // Handlers still being built (the daemon serves while it recovers): the call waits for them.
      if (resolved) run(resolved, call, cb, started);
      else void Promise.resolve(handlers).then((h) => run(h, call, cb, started), (err: unknown) => failed(started, cb, err));
    };
    // The daemon's metrics see each call from its arrival to its status (cri/metrics).
    out[name] = observe ? observeUnary(service, name, unary, observe) : unary;
  }
  return out;
}
