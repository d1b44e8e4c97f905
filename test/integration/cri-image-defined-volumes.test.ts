// Volumes an image declares (`VOLUME`), as containerd makes them, through a real berth daemon
// driven by the Go CRI client with a kubelet-shaped Deployment pod: each declared path a CRI mount
// does not cover is a read-write mount of its own, seeded from the image (owner, mode, content),
// private to the container and removed with it; `ignore_image_defined_volumes = true` leaves them
// out. The second daemon also checks `image_pull_progress_timeout`: a registry that stops
// sending fails the pull with DeadlineExceeded after that long.
// Rules: docs/oci-spec.md ("Image-defined volumes"), docs/config.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { podLogDirectory } from '../fixtures/kubelet-pods.js';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../fixtures/oci-image.js';
import { buildGoCri, startGoCri, type GoCriClients } from '../helpers/go-cri.js';
import {
  createKubeletContainer, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode, type KubeletSetup,
} from '../helpers/kubelet-pod-run.js';
import { startFakeRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startBerth, until, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
// the Deployment pod runs as 1000:3000; the image's volume content belongs to that user
const SCRIPT = [
  'stat -c "%u:%g %a" /data /data/seed', 'cat /data/seed', 'echo mine > /data/new && echo wrote',
  'echo "data mounts $(grep -c " /data " /proc/self/mountinfo)"', 'echo "empty mounts $(grep -c " /empty " /proc/self/mountinfo)"',
  'echo "empty has $(ls -A /empty | wc -l)"', 'echo "cache has $(ls -A /cache)"',
].join('; ');

let layouts = '';
let reg: TestRegistry;
let imageName = '';

beforeAll(async () => {
  layouts = await mkdtemp(path.join(os.tmpdir(), 'berth-volumes-'));
  const layer = await makeLayer([
    { name: 'data/', type: 'directory', mode: 0o750, uid: 1000, gid: 3000 },
    { name: 'data/seed', content: 'seeded by the image\n', mode: 0o640, uid: 1000, gid: 3000 },
    { name: 'cache/', type: 'directory' },
    { name: 'cache/from-image', content: 'hidden by the emptyDir\n' },
  ]);
  await writeLayout(path.join(layouts, 'vol'), 'v1', makeImage([await busyboxLayer(), layer], { volumes: ['/data', '/empty/', '/cache'] }));
  reg = await startRegistry();
  await reg.push(path.join(layouts, 'vol'), 'v1', 'test/vol');
  imageName = `${reg.host}/test/vol:v1`;
  await buildGoCri();
}, 180_000);
afterAll(async () => {
  await reg?.stop();
  if (layouts) await rm(layouts, { recursive: true, force: true });
});

/** A daemon with `top` config lines, the Go client on it, the image pulled, a kubelet node. */
function useDaemon(top: string[]) {
  let b: Berth | undefined;
  let go: GoCriClients | undefined;
  const node = useKubeletNode(async () => {
    b = await startBerth({ topConfig: top });
    go = await startGoCri(b.address, { dial: 'unix', conn: 'kept' });
    await go.image.PullImage({ image: { image: imageName } });
    return { logDir: b.logDir, cri: go, imageName };
  });
  afterAll(async () => {
    await go?.close();
    await b?.stop();
  }, 120_000);
  return { b: () => b!, go: () => go!, node };
}

/** Runs the Deployment pod with SCRIPT as its one container (the image under test) and returns the container id and log. */
async function runScript(go: GoCriClients, setup: KubeletSetup) {
  const pod = deploymentPodOf(setup.image.name, [{ name: 'vol', command: ['/bin/sh', '-c', SCRIPT] }]);
  const run = await runKubeletPod(go, setup, pod);
  const id = await createKubeletContainer(go, setup, run, 'vol');
  await go.runtime.StartContainer({ containerId: id });
  await until(async () => (await go.runtime.ContainerStatus({ containerId: id })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'exit');
  const log = readFileSync(path.join(podLogDirectory(setup.node, pod), 'vol', '0.log'), 'utf8')
    .split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' '));
  return { run, id, log };
}

describe('image-defined volumes (the default)', () => {
  const d = useDaemon([]);

  it('mounts each uncovered VOLUME read-write, seeded from the image, and removes it with the container', async () => {
    const setup = d.node();
    const { run, id, log } = await runScript(d.go(), setup);
    expect(log).toEqual([
      '1000:3000 750', '1000:3000 640', 'seeded by the image', 'wrote',
      'data mounts 1', 'empty mounts 1', 'empty has 0', 'cache has ',
    ]);
    // on the host: one dir per uncovered volume (/data, /empty; /cache is the pod's emptyDir)
    const volumes = path.join(d.b().dir, 'root', 'cri', 'containers', id, 'volumes');
    const dirs = readdirSync(volumes).map((v) => path.join(volumes, v));
    expect(dirs).toHaveLength(2);
    expect(dirs.map((v) => readdirSync(v).sort())).toContainEqual(['new', 'seed']);
    // a second container of the image gets volumes of its own
    const second = await runScript(d.go(), setup);
    expect(second.log.slice(2, 4)).toEqual(['seeded by the image', 'wrote']);
    await d.go().runtime.RemoveContainer({ containerId: id });
    expect(existsSync(volumes)).toBe(false);
    await removeKubeletPod(d.go(), setup, run);
    await removeKubeletPod(d.go(), setup, second.run);
  });
});

describe('ignore_image_defined_volumes = true, image_pull_progress_timeout = "1s"', () => {
  const d = useDaemon(['ignore_image_defined_volumes = true', 'image_pull_progress_timeout = "1s"', 'disable_apparmor = true']);

  it('leaves the image\'s VOLUME paths as plain rootfs directories', async () => {
    const { run, id, log } = await runScript(d.go(), d.node());
    expect(log).toContain('data mounts 0');
    expect(log).toContain('empty mounts 0');
    expect(log).toContain('seeded by the image');
    expect(existsSync(path.join(d.b().dir, 'root', 'cri', 'containers', id, 'volumes'))).toBe(false);
    await removeKubeletPod(d.go(), d.node(), run);
  });

  it('fails a pull whose registry stops sending after image_pull_progress_timeout, with DeadlineExceeded', async () => {
    const layer = await makeLayer([{ name: 'big', content: Buffer.alloc(256 * 1024, 7) }], { gzip: false });
    const img = makeImage([layer]);
    const manifest = { data: img.manifest.data, mediaType: img.manifest.mediaType };
    const fake = await startFakeRegistry({
      manifests: new Map([['v1', manifest], [img.manifest.digest, manifest]]),
      blobs: new Map([[img.config.digest, img.config.data], [layer.digest, layer.data]]),
      stall: { digest: layer.digest, after: 1024 },
    });
    try {
      const err = await d.go().image.PullImage({ image: { image: `${fake.host}/stall/img:v1` } }).catch((e: unknown) => e);
      expect(isKind(err, 'deadline-exceeded')).toBe(true);
      expect(String(err)).toMatch(/no data for 1000 ms/);
    } finally {
      await fake.stop();
    }
  });
});
