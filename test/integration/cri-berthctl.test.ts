// berthctl against a real berth daemon: the quickstart demo pod prints its log; pods, ps, logs,
// stop and rm work on it; images/pull/rmi, inspect, shims, logs -f and play (a Pod manifest with
// an init container, volumes and env, run through the CRI; refusals leave nothing behind).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleEntry } from '../helpers/bundle.js';
import { startBerth, type Berth } from './cri-harness.js';

const run = promisify(execFile);
let b: Berth;
let ctl: string;
beforeAll(async () => {
  [b, ctl] = await Promise.all([startBerth(), bundleEntry('cli/berthctl.ts')]);
}, 120_000);
afterAll(async () => {
  await b?.stop();
}, 120_000);

const berthctl = async (...args: string[]) => (await run(process.execPath, [ctl, '--address', b.address, ...args], { timeout: 60_000 })).stdout;
/** berthctl expected to fail: its exit code and stderr. */
const berthctlFails = async (...args: string[]) => {
  try {
    await run(process.execPath, [ctl, '--address', b.address, ...args], { timeout: 60_000 });
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code, stderr: e.stderr ?? '' };
  }
  throw new Error(`berthctl ${args.join(' ')} succeeded`);
};
const podCount = async () => (await b.cri.runtime.ListPodSandbox({})).items.length;

describe('berthctl', () => {
  it('runs the demo pod and manages it', async () => {
    const out = await berthctl('demo', '--log-dir', path.join(b.dir, 'pod-logs'));
    expect(out).toMatch(/hello from berth: berth-demo/);
    expect(out).toMatch(/tick 3/);
    expect(out).toMatch(/exited 0 \(Completed\)/);
    const pods = await berthctl('pods');
    expect(pods).toMatch(/SANDBOX_READY\s+berth-demo\s+default/);
    const ps = await berthctl('ps', '-a');
    const line = ps.split('\n').find((l) => l.includes('hello'))!;
    expect(line).toMatch(/EXITED/);
    const cid = line.split(/\s+/)[0]!;
    expect(await berthctl('logs', cid)).toMatch(/^hello from berth.*\ntick 1\ntick 2\ntick 3\n$/);
    const podId = pods.split('\n')[1]!.split(/\s+/)[0]!;
    await berthctl('stop', podId);
    await berthctl('rm', podId);
    expect((await berthctl('pods')).trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('lists, inspects and removes images; pull prints the image id', async () => {
    const pulled = await berthctl('pull', 'berth.local/busybox:latest');
    expect(pulled).toMatch(/^berth.local\/busybox:latest: sha256:[0-9a-f]{64} \(\d/);
    const images = await berthctl('images');
    expect(images).toMatch(/^IMAGE\s+TAG\s+DIGEST\s+IMAGE ID\s+SIZE/);
    expect(images).toMatch(/berth.local\/busybox\s+latest\s/);
    const id = pulled.split(' ')[1]!;
    expect(await berthctl('images', '-q')).toContain(id);
    const inspected = JSON.parse(await berthctl('inspect', 'berth.local/busybox:latest')) as { status: { id: string }; info: { info: { chainID: string } } };
    expect(inspected.status.id).toBe(id);
    expect(inspected.info.info.chainID).toMatch(/^sha256:/);
    expect(await berthctlFails('rmi', 'berth.local/none:1')).toMatchObject({ code: 1, stderr: expect.stringMatching(/no such image berth.local\/none:1/) });
    expect(await berthctl('rmi', 'berth.local/busybox:latest')).toBe('berth.local/busybox:latest\n');
    expect(await berthctl('images')).not.toMatch(/berth.local\/busybox/);
    await berthctl('pull', 'berth.local/busybox:latest');
  });

  const manifest = (dir: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: played
  namespace: team
  labels: { app: played }
spec:
  volumes:
    - { name: shared, emptyDir: {} }
    - name: host
      hostPath: { path: ${dir}, type: DirectoryOrCreate }
  initContainers:
    - name: setup
      image: berth.local/busybox:latest
      command: [sh, -c, "echo made-by-init > /shared/note; echo from-host > /host/h"]
      volumeMounts: [{ name: shared, mountPath: /shared }, { name: host, mountPath: /host }]
  containers:
    - name: main
      image: berth.local/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sh, -c]
      args: ["cat /shared/note; echo \\"greeting=$GREETING\\"; cat /host/h; for i in 1 2 3; do echo line-$i; sleep 0.3; done"]
      env: [{ name: GREETING, value: hello-play }]
      volumeMounts: [{ name: shared, mountPath: /shared, readOnly: true }, { name: host, mountPath: /host }]
    - name: idle
      image: berth.local/busybox:latest
      command: [sleep, "3600"]
`;

  it('play runs a Pod manifest (init container, emptyDir + hostPath volumes, env); logs -f, shims, inspect; --down removes it', async () => {
    const hostDir = path.join(b.dir, 'play-host', 'made');
    const file = path.join(b.dir, 'pod.yaml');
    writeFileSync(file, manifest(hostDir));
    const volumes = path.join(b.dir, 'play-volumes');
    const common = ['--log-dir', path.join(b.dir, 'pod-logs'), '--volume-dir', volumes];
    const out = await berthctl('play', file, ...common);
    expect(out).toMatch(/team\/played\s+\S+\s+setup\s+\S+\s+yes/);
    expect(out).toMatch(/team\/played\s+\S+\s+main\s+\S+/);
    expect(readFileSync(path.join(hostDir, 'h'), 'utf8')).toBe('from-host\n');
    const mainId = /team\/played\s+\S+\s+main\s+(\S+)/.exec(out)![1]!;
    // logs -f prints until the container exits, all three lines included.
    expect(await berthctl('logs', '-f', mainId)).toBe('made-by-init\ngreeting=hello-play\nfrom-host\nline-1\nline-2\nline-3\n');
    const pods = (await b.cri.runtime.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.name': 'played' } } })).items;
    expect(pods).toHaveLength(1);
    expect(pods[0]!.metadata).toMatchObject({ name: 'played', namespace: 'team' });
    const uid = pods[0]!.metadata!.uid!;
    expect(existsSync(path.join(volumes, uid, 'volumes', 'shared', 'note'))).toBe(true);
    // shims: one row for the pod, its shim process found from the pause process, memory counted.
    const shims = await berthctl('shims');
    const row = shims.split('\n').find((l) => l.includes('played'))!;
    expect(row).toMatch(/played\s+\S+\s+\d+\s+containerd-shim-\S+\s+1\s+\d+\s+\d+\s+[\d.]+ [kM]B\s+[\d.]+ [kM]B/);
    expect(shims).toMatch(/1 shim\(s\), PSS [\d.]+ [kM]B in all/);
    const inspected = JSON.parse(await berthctl('inspect', pods[0]!.id!.slice(0, 12))) as { status: { id: string }; info: { info: { pid: number } } };
    expect(inspected.status.id).toBe(pods[0]!.id);
    expect(inspected.info.info.pid).toBeGreaterThan(0);
    // Playing it again while it runs is refused; --down removes the pod and its emptyDir.
    expect((await berthctlFails('play', file, ...common)).stderr).toMatch(/already running/);
    expect(await berthctl('play', '--down', file, ...common)).toMatch(/team\/played: removed/);
    expect((await b.cri.runtime.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.name': 'played' } } })).items).toHaveLength(0);
    expect(existsSync(path.join(volumes, uid))).toBe(false);
  }, 120_000);

  it('play refuses what it cannot run and leaves no pod behind', async () => {
    const before = await podCount();
    const dir = path.join(b.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    const write = (name: string, text: string) => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const common = ['--log-dir', path.join(b.dir, 'pod-logs'), '--volume-dir', path.join(b.dir, 'play-volumes')];
    const refused = await berthctlFails('play', write('cm.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: cm }\nspec: { volumes: [{ name: v, configMap: { name: m } }], containers: [{ name: c, image: berth.local/busybox:latest }] }\n'), ...common);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/volume source configMap is not supported/) });
    const never = await berthctlFails('play', write('never.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: never }\nspec: { containers: [{ name: c, image: "berth.local/absent:1", imagePullPolicy: Never }] }\n'), ...common);
    expect(never.stderr).toMatch(/image berth.local\/absent:1 is not present and imagePullPolicy is Never/);
    // An init container that fails: the pod is removed again and its log's tail is shown.
    const failing = await berthctlFails('play', write('init.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: initfail }\nspec:\n  initContainers: [{ name: boom, image: berth.local/busybox:latest, command: [sh, -c, "echo cannot-setup; exit 3"] }]\n  containers: [{ name: c, image: berth.local/busybox:latest }]\n'), ...common);
    expect(failing.stderr).toMatch(/init container boom exited 3 \(Error\)/);
    expect(failing.stderr).toMatch(/cannot-setup/);
    expect(await podCount()).toBe(before);
  }, 120_000);
});
