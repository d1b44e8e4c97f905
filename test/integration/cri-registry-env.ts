// A daemon of the calling describe block (one runtime handler) beside a local docker-registry
// serving the test's own images (tag v1 of each repo), and a Go CRI client on the daemon: what
// a kubelet node that pulls from a registry looks like. Everything is stopped and removed after.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { writeLayout, type BuiltImage } from '../fixtures/oci-image.js';
import { buildGoCri, startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { LOCAL_BUSYBOX, startBerth, type Berth, type BerthOptions } from './cri-harness.js';

export interface RegistryEnv {
  readonly b: Berth;
  readonly reg: TestRegistry;
  /** The Go client (a new one after reconnect). */
  readonly go: GoCriClients;
  /** `<registry>/<repo>:v1`. */
  ref(repo: string): string;
  /** A new Go client, e.g. after the daemon was restarted. */
  reconnect(): Promise<void>;
}

export function useRegistryEnv(opts: BerthOptions, images: () => Promise<Record<string, BuiltImage>>): () => RegistryEnv {
  let layouts = '';
  let b: Berth | undefined;
  let reg: TestRegistry | undefined;
  let go: GoCriClients | undefined;
  beforeAll(async () => {
    layouts = await mkdtemp(path.join(os.tmpdir(), 'berth-layouts-'));
    const built = await images();
    for (const [repo, image] of Object.entries(built)) await writeLayout(path.join(layouts, repo), 'v1', image);
    [b, reg] = await Promise.all([startBerth(opts), startRegistry(), buildGoCri()]) as unknown as [Berth, TestRegistry];
    // A pod's root in a user namespace (an unmapped host uid) must pass through the daemon's
    // dirs, as it can through /run/berth and /var/lib/berth (0711, cri/root-dirs.ts); mkdtemp made this one 0700.
    await chmod(b.dir, 0o711);
    for (const repo of Object.keys(built)) await reg.push(path.join(layouts, repo), 'v1', `test/${repo}`);
    await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
    go = await startGoCri(b.address);
  }, 600_000);
  // A test that failed halfway leaves no pod behind for the next one (nor processes in the
  // kubelet node's cgroup root, whose afterAll would then fail before this one stops the daemon).
  afterEach(async () => {
    if (!go) return;
    for (const p of (await go.runtime.ListPodSandbox({})).items) {
      await go.runtime.StopPodSandbox({ podSandboxId: p.id });
      await go.runtime.RemovePodSandbox({ podSandboxId: p.id });
    }
  }, 120_000);
  // Each step runs whatever the one before did (a client closed twice must not leave a daemon).
  afterAll(async () => {
    try {
      await go?.close();
    } finally {
      try {
        await b?.stop();
      } finally {
        await reg?.stop();
        if (layouts) await rm(layouts, { recursive: true, force: true });
      }
    }
  }, 120_000);
  const env: RegistryEnv = {
    get b() {
      return b!;
    },
    get reg() {
      return reg!;
    },
    get go() {
      return go!;
    },
    ref: (repo) => `${reg!.host}/test/${repo}:v1`,
    async reconnect() {
      const old = go;
      go = undefined;
      await old?.close().catch(() => undefined); // its daemon may be gone already
      go = await startGoCri(b!.address);
    },
  };
  return () => env;
}
