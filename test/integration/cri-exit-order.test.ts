// A container's exit is recorded (EXITED, exit code, CONTAINER_STOPPED) before its task is
// deleted: a runc wrapper makes `runc delete` take 2 s, EXITED shows while that delete is still
// running, and a RemoveContainer sent at once waits for it (task lock) and leaves nothing.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { LOCAL_BUSYBOX, podConfig, shimsOf, startBerth, until, type Berth } from './cri-harness.js';

const v1 = runtime.v1;
const marks = mkdtempSync(path.join(os.tmpdir(), 'berth-slowdel-'));
const wrapper = path.join(marks, 'runc');
let b: Berth;

beforeAll(async () => {
  writeFileSync(wrapper, [
    '#!/bin/sh',
    'for a; do last=$a; done',
    'for a; do',
    `  if [ "$a" = delete ]; then touch ${marks}/begun-$last; sleep 2; /usr/sbin/runc "$@"; rc=$?; touch ${marks}/done-$last; exit $rc; fi`,
    'done',
    'exec /usr/sbin/runc "$@"',
    '',
  ].join('\n'));
  chmodSync(wrapper, 0o755);
  b = await startBerth({
    extraConfig: [
      '[containerd.runtimes.slowdel]', 'runtime_type = "io.containerd.runc.v2"',
      '[containerd.runtimes.slowdel.options]', `BinaryName = ${JSON.stringify(wrapper)}`,
    ],
  });
  await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
}, 120_000);
afterAll(async () => {
  await b?.stop();
  rmSync(marks, { recursive: true, force: true });
}, 120_000);

describe('exit before task delete', () => {
  it('EXITED shows while runc delete still runs; RemoveContainer waits for it and leaves nothing', async () => {
    const config = podConfig(b, 'slowdel');
    const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config, runtimeHandler: 'slowdel' });
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId, sandboxConfig: config,
      config: { metadata: { name: 'quick' }, image: { image: LOCAL_BUSYBOX }, command: ['sh', '-c', 'exit 7'], logPath: 'quick.log', linux: {} },
    });
    const id = containerId!;
    await b.cri.runtime.StartContainer({ containerId: id });
    const exited = await until(async () => {
      const st = (await b.cri.runtime.ContainerStatus({ containerId: id })).status!;
      return st.state === v1.ContainerState.CONTAINER_EXITED ? st : undefined;
    }, 'the container to be EXITED', 10_000);
    expect(exited.exitCode).toBe(7);
    expect(existsSync(path.join(marks, `done-${id}`))).toBe(false); // the task delete has not finished
    await b.cri.runtime.RemoveContainer({ containerId: id });
    expect(existsSync(path.join(marks, `begun-${id}`))).toBe(true);
    expect(existsSync(path.join(marks, `done-${id}`))).toBe(true); // RemoveContainer waited for it
    expect((await b.cri.runtime.ListContainers({})).containers.map((c) => c.id)).not.toContain(id);
    await b.cri.runtime.StopPodSandbox({ podSandboxId });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId });
    expect(await until(() => shimsOf(b).length === 0, 'the pod shim to be gone', 15_000)).toBe(true);
  }, 60_000);
});
