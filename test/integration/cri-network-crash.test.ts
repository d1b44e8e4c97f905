// The berth daemon SIGKILLed in the middle of a pod's CNI work, then restarted on the same state:
// counts of pinned netns, veths on the test bridge, host-local IP files and nat rules return to
// their baseline, pods that were running keep their network, and the CRI can stop and remove the
// cut-short pod. The kill comes from a fake chained plugin (`berthcrash`, after bridge + portmap)
// that SIGKILLs its parent, the daemon, on ADD or DEL while a marker file exists. Also: a plugin
// that fails ADD fails RunPodSandbox with its message, leaving nothing behind.
import { readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import { LOCAL_BUSYBOX, podConfig, shimsOf, startBerth, until, type Berth } from './cri-harness.js';
import { leftovers, NOTHING_LEFT, writeFakePlugin } from './network-harness.js';

const v1 = runtime.v1;
const PORTMAP = { type: 'portmap', capabilities: { portMappings: true }, snat: true };

let b: Berth;
let marker: string;
beforeEach(async () => {
  b = await startBerth();
  marker = join(b.dir, 'crash-now');
  await writeFakePlugin(b.net.env, 'berthcrash', { crashParentOn: ['ADD', 'DEL'], marker });
  await b.net.env.writeConflist([PORTMAP, { type: 'berthcrash' }]);
  await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
}, 120_000);
afterEach(async () => {
  await rm(marker, { force: true });
  await b.stop();
}, 120_000);

/** The daemon is gone: the call fails UNAVAILABLE (connection lost), never hangs. */
async function callDuringCrash(call: () => Promise<unknown>): Promise<void> {
  const err = await call().then(() => undefined, (e: unknown) => e);
  expect(isKind(err, 'unavailable')).toBe(true);
  await b.kill('SIGKILL'); // reaps the exited process; no-op for the signal
}

const state = async (pod: string) => (await b.cri.runtime.PodSandboxStatus({ podSandboxId: pod })).status!.state;

describe('berth killed during pod network work, then restarted', () => {
  it('during RunPodSandbox network setup: the half-made network is undone, a running pod keeps its own', async () => {
    const survivor = podConfig(b, 'survivor', { portMappings: [{ containerPort: 80, hostPort: 31_000 + Math.floor(Math.random() * 9_000) }] });
    const { podSandboxId: kept } = await b.cri.runtime.RunPodSandbox({ config: survivor });
    const baseline = await leftovers(b.net.env);
    expect(baseline).toMatchObject({ netns: 1, veths: 1, ips: 1 });

    await writeFile(marker, '');
    await callDuringCrash(() => b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'victim') }));
    const crashed = await leftovers(b.net.env);
    expect(crashed).toMatchObject({ netns: 2, veths: 2, ips: 2 }); // bridge + portmap ADD had run

    await rm(marker);
    await b.start();
    expect(await leftovers(b.net.env)).toEqual(baseline);
    const pods = (await b.cri.runtime.ListPodSandbox({})).items;
    const victim = pods.find((p) => p.metadata?.name === 'victim')!;
    expect(await state(victim.id!)).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    expect(await state(kept)).toBe(v1.PodSandboxState.SANDBOX_READY);
    expect((await b.cri.runtime.PodSandboxStatus({ podSandboxId: kept })).status!.network!.ip).toMatch(/^10\.21[45]\./);

    await b.cri.runtime.StopPodSandbox({ podSandboxId: victim.id! });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: victim.id! });
    await b.cri.runtime.StopPodSandbox({ podSandboxId: kept });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: kept });
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 120_000);

  it('a pod without a pause process (pid CONTAINER) killed during its CNI ADD: the restart undoes network and pins', async () => {
    // Its record is made at stage netns naming the pinned files, its IPs only come with READY.
    const baseline = await leftovers(b.net.env);
    await writeFile(marker, '');
    const config = podConfig(b, 'pauseless-victim', { linux: { securityContext: { namespaceOptions: { pid: v1.NamespaceMode.CONTAINER } } } });
    await callDuringCrash(() => b.cri.runtime.RunPodSandbox({ config }));
    expect(await leftovers(b.net.env)).toMatchObject({ netns: baseline.netns + 1, veths: baseline.veths + 1 });
    const pinned = join(b.dir, 'state', 'podns');
    expect(readdirSync(pinned)).toHaveLength(1); // the pod's IPC and UTS namespaces

    await rm(marker);
    await b.start();
    expect(await leftovers(b.net.env)).toEqual(baseline);
    const victim = (await b.cri.runtime.ListPodSandbox({})).items.find((p) => p.metadata?.name === 'pauseless-victim')!;
    expect(await state(victim.id!)).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    expect(readdirSync(pinned).flatMap((d) => readdirSync(join(pinned, d)))).toEqual([]);
    await b.cri.runtime.StopPodSandbox({ podSandboxId: victim.id! });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: victim.id! });
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
    expect(readdirSync(pinned)).toEqual([]);
    await until(() => shimsOf(b).length === 0, 'the pod shim to exit');
  }, 120_000);

  it('during StopPodSandbox network teardown: the restart finishes the teardown', async () => {
    const config = podConfig(b, 'stopping', { portMappings: [{ containerPort: 80, hostPort: 31_000 + Math.floor(Math.random() * 9_000) }] });
    const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId: pod, sandboxConfig: config, config: { metadata: { name: 'c' }, image: { image: LOCAL_BUSYBOX }, command: ['/bin/sleep', '300'] },
    });
    await b.cri.runtime.StartContainer({ containerId });
    expect(await leftovers(b.net.env)).toMatchObject({ netns: 1, veths: 1, ips: 1 });

    await writeFile(marker, '');
    await callDuringCrash(() => b.cri.runtime.StopPodSandbox({ podSandboxId: pod }));
    expect(await leftovers(b.net.env)).toMatchObject({ netns: 1, veths: 1, ips: 1 }); // killed before bridge DEL

    await rm(marker);
    await b.start();
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
    expect(await state(pod)).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    expect((await b.cri.runtime.ListPodSandbox({})).items).toEqual([]);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 120_000);
});

describe('a failing CNI plugin', () => {
  it("RunPodSandbox fails with the plugin's message and leaves no pod, netns, veth, IP or rule", async () => {
    await writeFakePlugin(b.net.env, 'berthfail', { failOn: ['ADD'], msg: 'no address for you' });
    await b.net.env.writeConflist([PORTMAP, { type: 'berthfail' }]);
    const err = await b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'refused') }).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, 'internal')).toBe(true);
    expect((err as Error).message).toMatch(/failed to setup network for sandbox "[0-9a-f]{64}": .*plugin type="berthfail" failed \(add\): no address for you/);
    expect((await b.cri.runtime.ListPodSandbox({})).items).toEqual([]);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 60_000);

  // CNI ADD runs while the pause task is made: a slow ADD that fails finds the task already
  // running, and the undo takes it (and its shim) away too.
  it('a slow CNI ADD failing after the pause task started leaves no pod, shim, netns, veth, IP or rule', async () => {
    await writeFakePlugin(b.net.env, 'berthslowfail', { failOn: ['ADD'], msg: 'too slow, then no', delayMs: 1_500 });
    await b.net.env.writeConflist([PORTMAP, { type: 'berthslowfail' }]);
    const running = until(() => shimsOf(b).length > 0, 'the pod shim to run during CNI ADD', 10_000);
    const call = b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'slow-refused') }).then(() => undefined, (e: unknown) => e);
    await running;
    const err = await call;
    expect((err as Error).message).toMatch(/plugin type="berthslowfail" failed \(add\): too slow, then no/);
    expect((await b.cri.runtime.ListPodSandbox({})).items).toEqual([]);
    expect(await until(() => shimsOf(b).length === 0, 'the pod shim to be gone', 10_000)).toBe(true);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 60_000);

  it('killed during a slow CNI ADD with the pause task running: after the restart the pod is NOTREADY and removable, nothing leaks', async () => {
    await writeFakePlugin(b.net.env, 'berthslowcrash', { crashParentOn: ['ADD'], marker, delayMs: 1_500 });
    await b.net.env.writeConflist([PORTMAP, { type: 'berthslowcrash' }]);
    await writeFile(marker, '');
    const running = until(() => shimsOf(b).length > 0, 'the pod shim to run during CNI ADD', 10_000);
    const call = callDuringCrash(() => b.cri.runtime.RunPodSandbox({ config: podConfig(b, 'slow-victim') }));
    await running;
    await call;
    await rm(marker);
    await b.start();
    const victim = (await b.cri.runtime.ListPodSandbox({})).items.find((p) => p.metadata?.name === 'slow-victim')!;
    expect(await state(victim.id!)).toBe(v1.PodSandboxState.SANDBOX_NOTREADY);
    await b.cri.runtime.StopPodSandbox({ podSandboxId: victim.id! });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: victim.id! });
    expect(await until(() => shimsOf(b).length === 0, 'the pod shim to be gone', 10_000)).toBe(true);
    expect(await leftovers(b.net.env)).toEqual(NOTHING_LEFT);
  }, 120_000);
});
