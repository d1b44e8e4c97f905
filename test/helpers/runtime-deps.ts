// RuntimeDeps for unit tests of cri/runtime and cri/events: a real store on a temp level db, real
// container logs, event hub, stop waiters and locks; a fake task manager (fake-tasks.ts), and
// images and pod networking reduced to what the methods call (one image layer dir with
// /etc/passwd; networks recorded, never set up). `events` collects what GetContainerEvents sends.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KeyedMutex, silentLogger } from '../../common/index.js';
import { DEFAULT_CONFIG } from '../../cri/config/index.js';
import { ContainerEventHub, StopWaiters, type ContainerEvent } from '../../cri/events/index.js';
import type { RuntimeDeps } from '../../cri/runtime/deps.js';
import { ContainerLogs } from '../../cri/runtime/index.js';
import { openStore } from '../../cri/store/index.js';
import { runtime } from '../../proto/cri.js';
import { FakeTasks } from './fake-tasks.js';

export const EVENT = runtime.v1.ContainerEventType;

export interface TestRuntime {
  deps: RuntimeDeps;
  tasks: FakeTasks;
  /** Every ContainerEvent emitted, as [containerId, type]. */
  events: Array<[string, number]>;
  /** Rootfs prepare/remove calls of the fake images: "prepare <id>", "remove <id>". */
  rootfs: string[];
  dir: string;
  close(): Promise<void>;
}

export const IMAGE_ID = `sha256:${'ab'.repeat(32)}`;

export async function openTestRuntime(): Promise<TestRuntime> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-runtime-unit-'));
  const layer = path.join(dir, 'layer');
  await mkdir(path.join(layer, 'etc'), { recursive: true });
  await writeFile(path.join(layer, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(path.join(layer, 'etc/group'), 'root:x:0:\n');
  const store = await openStore(path.join(dir, 'store'));
  const tasks = new FakeTasks();
  const rootfs: string[] = [];
  const prepared = new Set<string>();
  const config = { ...DEFAULT_CONFIG, root: path.join(dir, 'root'), state: path.join(dir, 'state') };
  const image = {
    id: IMAGE_ID, repoTags: [config.sandboxImage], repoDigests: [], config: { config: { Cmd: ['/pause'] } }, size: 1, chainIds: [], blobs: [],
  };
  const mounts = [{ type: 'bind', source: layer, options: ['rbind', `lowerdir=${layer}`] }];
  const images = {
    status: (ref: string) => (ref === config.sandboxImage || ref === IMAGE_ID ? image : undefined),
    prepareRootfs: async (id: string) => { rootfs.push(`prepare ${id}`); prepared.add(id); return mounts; },
    removeRootfs: async (id: string) => { rootfs.push(`remove ${id}`); prepared.delete(id); },
    rootfsMounts: () => mounts,
    rootfsIds: () => [...prepared],
  };
  const network = {
    recoverNetworks: async (keep: Iterable<string>) => ({ kept: [...keep], tornDown: [], failed: [] }),
    teardownPodNetwork: async () => undefined,
  };
  const hub = new ContainerEventHub();
  const events: Array<[string, number]> = [];
  hub.subscribe((e: ContainerEvent) => { events.push([e.containerId ?? '', Number(e.containerEventType)]); });
  const logs = new ContainerLogs(16 * 1024, silentLogger);
  const deps: RuntimeDeps = {
    config, store, images: images as never, tasks, events: hub, stops: new StopWaiters(), logs, network: network as never,
    dirs: { root: path.join(dir, 'cri'), state: path.join(dir, 'cri-state') }, locks: new KeyedMutex(), starting: new KeyedMutex(),
    log: silentLogger, podCidr: '',
  };
  return {
    deps, tasks, events, rootfs, dir,
    close: async () => {
      await logs.closeAll();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
