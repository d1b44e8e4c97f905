// Image volumes (CRI Mount.image + image_sub_path, GA in kubelet 1.36) through the Go client with
// kubelet-shaped configs, real runc and each handler (docs/cri.md "Image volumes"): the image is
// pulled from a local registry as kubelet's EnsureImageExists would, mounted read-only into the
// container (checked from inside: the files of both layers, a sub path, an in-image absolute
// symlink, a refused write), shared by the pod's containers, kept when RemoveImage drops the
// image while in use, and unmounted and released (layers collected) when the pod stops, and at a
// restart for a pod whose shim died meanwhile. Each refused combination has its own case.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { imageRootOf } from '../../image/index.js';
import { runtime } from '../../proto/cri.js';
import { isMountPoint } from '../../sys/index.js';
import { makeImage, makeLayer } from '../fixtures/oci-image.js';
import { containerConfig, type Container, type Pod, type Volume } from '../fixtures/kubelet-pods.js';
import type { GoCriClients } from '../helpers/go-cri.js';
import { createKubeletContainer, deploymentPodOf, removeKubeletPod, runKubeletPod, useKubeletNode } from '../helpers/kubelet-pod-run.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, until, type Berth } from './cri-harness.js';
import { useRegistryEnv } from './cri-registry-env.js';

const v1 = runtime.v1;
const SLEEP = ['/bin/sh', '-c', 'echo up; exec sleep 600'];

/** The data image: two layers; a sub dir, an absolute in-image link, an escaping link, a file. */
async function dataImage() {
  const base = await makeLayer([
    { name: 'data/', type: 'directory' },
    { name: 'data/hello.txt', content: 'hello from the image\n' },
    { name: 'data/sub/', type: 'directory' },
    { name: 'data/sub/inner.txt', content: 'inner\n' },
    { name: 'data/abs', type: 'symlink', linkname: '/data/sub' },
    { name: 'data/up', type: 'symlink', linkname: '../../../../../..' },
    { name: 'data/plain', content: 'a file, not a directory\n' },
  ]);
  const top = await makeLayer([{ name: 'data/second.txt', content: 'from the second layer\n' }]);
  return { data: makeImage([base, top]) };
}

describe.each(CRI_HANDLERS)('image volumes on the %s shim', (handler) => {
  const env = useRegistryEnv({ handler }, dataImage);
  let b: Berth;
  let go: GoCriClients;
  let ref = '';
  let imageId = '';
  const kubelet = useKubeletNode(async () => ({ logDir: env().b.logDir, cri: env().go, imageName: LOCAL_BUSYBOX }));
  beforeEach(async () => {
    ({ b, go } = env());
    ref = env().ref('data');
    // kubelet's EnsureImageExists for the volume (pull policy IfNotPresent): pull, then use the image_ref.
    imageId = (await go.image.PullImage({ image: { image: ref } })).imageRef;
  });

  const volumesDir = (podId: string) => path.join(b.dir, 'state', 'cri', 'image-volumes', podId);
  const snapshotsDir = () => path.join(imageRootOf(path.join(b.dir, 'root')), 'snapshots');
  const podWith = (mounts: NonNullable<Container['volumeMounts']>, names = ['app']): Pod => {
    const pod = deploymentPodOf(LOCAL_BUSYBOX, names.map((name) => ({ name, command: SLEEP, volumeMounts: mounts })));
    const vol: Volume = { name: 'data', kind: 'image', reference: ref, imageRef: imageId };
    return { ...pod, volumes: [...pod.volumes, vol] };
  };
  const exec = async (containerId: string, script: string) => {
    const r = await go.runtime.ExecSync({ containerId, cmd: ['/bin/sh', '-c', script], timeout: 20 });
    return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exitCode };
  };

  it('mounts the image read-only, whole and by sub paths, shared by the pod\'s containers; RemoveImage in use keeps it; StopPodSandbox releases it', async () => {
    const run = await runKubeletPod(go, kubelet(), podWith([
      { name: 'data', mountPath: '/vol' },
      { name: 'data', mountPath: '/sub', subPath: 'data/sub' },
      { name: 'data', mountPath: '/abs', subPath: 'data/abs' },
    ], ['app', 'peer']));
    const app = await createKubeletContainer(go, kubelet(), run, 'app');
    const peer = await createKubeletContainer(go, kubelet(), run, 'peer');
    for (const c of [app, peer]) await go.runtime.StartContainer({ containerId: c });

    const read = 'cat /vol/data/hello.txt /vol/data/second.txt /sub/inner.txt /abs/inner.txt';
    for (const c of [app, peer]) expect(await exec(c, read)).toEqual({ out: 'hello from the image\nfrom the second layer\ninner\ninner\n', err: '', code: 0 });
    // Read-only: a write fails with EROFS, whoever writes (the pod runs as uid 1000).
    const write = await exec(app, 'touch /vol/x; touch /sub/y');
    expect(write.code).not.toBe(0);
    expect(write.err).toMatch(/Read-only file system/);
    expect(await exec(app, 'grep -E " /(vol|sub|abs) " /proc/self/mounts | cut -d" " -f2,4 | cut -d, -f1 | sort')).toMatchObject({ out: '/abs ro\n/sub ro\n/vol ro\n' });

    // One mount for the pod, whatever the number of containers and sub paths.
    const mounted = readdirSync(volumesDir(run.id));
    expect(mounted).toEqual([imageId.replace('sha256:', '')]);
    expect(isMountPoint(path.join(volumesDir(run.id), mounted[0]!))).toBe(true);

    // RemoveImage while in use: the image goes (as in containerd), its layers stay mounted.
    const snapshotsBefore = readdirSync(snapshotsDir()).length;
    await go.image.RemoveImage({ image: { image: ref } });
    expect((await go.image.ImageStatus({ image: { image: ref } })).image).toBeFalsy();
    expect(await exec(peer, 'cat /vol/data/second.txt /sub/inner.txt')).toMatchObject({ out: 'from the second layer\ninner\n', code: 0 });
    expect(readdirSync(snapshotsDir()).length).toBe(snapshotsBefore);

    // The pod stops: unmounted, the view released and its two layers collected.
    await go.runtime.StopPodSandbox({ podSandboxId: run.id });
    expect(existsSync(volumesDir(run.id))).toBe(false);
    expect(readdirSync(snapshotsDir()).length).toBe(snapshotsBefore - 2);
    await removeKubeletPod(go, kubelet(), run);
  });

  it('a daemon restart releases the image volumes of a pod whose shim died while it was down', async () => {
    const run = await runKubeletPod(go, kubelet(), podWith([{ name: 'data', mountPath: '/vol' }]));
    const app = await createKubeletContainer(go, kubelet(), run, 'app');
    await go.runtime.StartContainer({ containerId: app });
    const [mounted] = readdirSync(volumesDir(run.id));
    const target = path.join(volumesDir(run.id), mounted!);
    expect(isMountPoint(target)).toBe(true);
    // a pod without a pause process names its shim; else the shim is the pause's parent
    const info = JSON.parse((await go.runtime.PodSandboxStatus({ podSandboxId: run.id, verbose: true })).info.info!) as { pid: number; shimPid?: number };
    const pausePid = info.pid;
    const stat = pausePid ? readFileSync(`/proc/${pausePid}/stat`, 'utf8') : '';
    const shimPid = info.shimPid ?? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    expect(shimPid).toBeGreaterThan(0);
    await b.kill('SIGKILL');
    // The pod's shim dies while berth is down (berth's restart deletes its tasks, `<shim> delete`).
    process.kill(shimPid, 'SIGKILL');
    await until(() => !existsSync(`/proc/${shimPid}`), 'shim gone');
    await b.start();
    await env().reconnect();
    go = env().go;
    await until(async () => (await go.runtime.PodSandboxStatus({ podSandboxId: run.id })).status!.state === v1.PodSandboxState.SANDBOX_NOTREADY, 'pod NOTREADY');
    expect(isMountPoint(target)).toBe(false);
    expect(existsSync(volumesDir(run.id))).toBe(false);
    await removeKubeletPod(go, kubelet(), run);
    if (pausePid) await until(() => !existsSync(`/proc/${pausePid}`), 'pause gone');
  });

  describe('refused', () => {
    const cases: Array<[string, Partial<runtime.v1.Mount.$Properties>, number, RegExp]> = [
      ['a sub path that climbs out through a relative symlink', { imageSubPath: 'data/up' }, 3, /leads outside/],
      ['a sub path that climbs out with ..', { imageSubPath: 'data/../../x' }, 3, /leads outside/],
      ['an absolute sub path', { imageSubPath: '/data' }, 3, /must be relative/],
      ['a sub path that is a file', { imageSubPath: 'data/plain' }, 3, /not a directory/],
      ['a missing sub path', { imageSubPath: 'data/nope' }, 3, /does not exist/],
      ['readonly false', { readonly: false }, 3, /readonly must be true/],
      ['a host_path beside the image', { hostPath: '/tmp' }, 3, /host_path must be empty/],
      ['an image that is not pulled', { image: { image: 'registry.invalid/none:1' } }, 5, /not found/],
    ];
    it.each(cases)('%s', async (_what, change, code, message) => {
      const run = await runKubeletPod(go, kubelet(), podWith([{ name: 'data', mountPath: '/vol' }]));
      try {
        const c = run.pod.containers[0]!;
        const config = containerConfig(kubelet().node, run.pod, c, { attempt: 0, podIPs: run.podIPs, image: kubelet().image });
        config.mounts = config.mounts!.map((m) => (m.image ? { ...m, ...change } : m));
        const err = await go.runtime.CreateContainer({ podSandboxId: run.id, config, sandboxConfig: run.config }).then(() => undefined, (e: unknown) => e);
        expect((err as { code?: number }).code).toBe(code);
        expect((err as Error).message).toMatch(/ImageVolumeMountFailed/);
        expect((err as Error).message).toMatch(message);
        expect((await go.runtime.ListContainers({ filter: { podSandboxId: run.id } })).containers).toEqual([]);
      } finally {
        await removeKubeletPod(go, kubelet(), run);
      }
      expect(existsSync(volumesDir(run.id))).toBe(false);
    });
  });
});
