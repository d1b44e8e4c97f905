// What can be checked of deploy/ on a machine where systemd is not the init and no container
// engine runs (docs/systemd.md, deploy/kind/README.md): the unit through systemd-analyze, the
// systemd install path, and the kind recipe's files — the Dockerfile's instructions and the files
// it copies, the socket every piece names, berth's kind config through berth's own loader, the
// scripts through shellcheck, the `ctr` wrapper `kind load` reaches berth by, and the preload
// export against Debian's real containerd.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadYaml } from '@kubernetes/client-node';
import { loadConfig } from '../cri/config/index.js';
import { makeImage, makeLayer, writeLayout } from '../test/fixtures/oci-image.js';
import { projectRoot } from '../test/helpers/bundle.js';

const repo = (...p: string[]) => path.join(projectRoot, ...p);
const read = (...p: string[]) => readFileSync(repo(...p), 'utf8');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-deploy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `key=value` lines of a unit's [section]. */
function unitSection(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      cur = head[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (cur === section && eq > 0) out.set(line.slice(0, eq), [...(out.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** systemd-analyze verify of `files` copied into a temp dir, each ExecStart's binary pointed at one that exists here. */
function verifyUnits(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmp, 'units-'));
  const names = Object.entries(files).map(([name, text]) => {
    writeFileSync(path.join(dir, name), text.replace(/^(ExecStart(?:Post)?=)(\/\S+)/gm, (_m, k: string) => `${k}${process.execPath}`));
    return path.join(dir, name);
  });
  const r = spawnSync('systemd-analyze', ['verify', ...names], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('deploy/berth.service', () => {
  const unit = read('deploy/berth.service');
  const service = unitSection(unit, 'Service');

  it('is containerd\'s unit for berth: notify, delegated cgroups, the pods outlive the daemon, limits', () => {
    const one = (k: string) => service.get(k)?.join(' ');
    expect({
      Type: one('Type'), Delegate: one('Delegate'), KillMode: one('KillMode'), Restart: one('Restart'), LimitNOFILE: one('LimitNOFILE'),
      LimitNPROC: one('LimitNPROC'), LimitCORE: one('LimitCORE'), TasksMax: one('TasksMax'), OOMScoreAdjust: one('OOMScoreAdjust'),
      ExecStart: one('ExecStart'),
    }).toEqual({
      Type: 'notify', Delegate: 'yes', KillMode: 'process', Restart: 'always', LimitNOFILE: '1048576', LimitNPROC: 'infinity',
      LimitCORE: 'infinity', TasksMax: 'infinity', OOMScoreAdjust: '-999', ExecStart: '/usr/local/bin/berth',
    });
    expect(unitSection(unit, 'Install').get('WantedBy')).toEqual(['multi-user.target']);
  });

  it.skipIf(!has('systemd-analyze'))('passes systemd-analyze verify', () => {
    const r = verifyUnits({ 'berth.service': unit });
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});

describe.skipIf(existsSync('/run/systemd/system'))('deploy/install-systemd.sh where systemd is not the init', () => {
  const run = (env: Record<string, string>) =>
    spawnSync('bash', [repo('deploy/install-systemd.sh')], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('installs the unit (ExecStart = the berth it was given) and starts or stops nothing', () => {
    const dir = path.join(tmp, 'unit-dir');
    const r = run({ BERTH_SYSTEMD_UNIT_DIR: dir, BERTH_BIN: process.execPath });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('systemd is not the running init here');
    const installed = readFileSync(path.join(dir, 'berth.service'), 'utf8');
    expect(installed).toBe(read('deploy/berth.service').replace('ExecStart=/usr/local/bin/berth', `ExecStart=${process.execPath}`));
    expect(readdirSync(dir)).toEqual(['berth.service']);
  });

  it('refuses without an installed berth, naming deploy/install.sh', () => {
    const r = run({ BERTH_SYSTEMD_UNIT_DIR: path.join(tmp, 'unused'), BERTH_BIN: path.join(tmp, 'no-berth') });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('run deploy/install.sh first');
    expect(existsSync(path.join(tmp, 'unused'))).toBe(false);
  });
});

// ---- the kind node image recipe ----

interface Instruction { op: string; args: string; stage: number }

/** The Dockerfile's instructions, continuation lines joined, comments dropped; `stage` counts FROMs. */
function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && pending === '') continue;
    const line = pending + raw.replace(/\\$/, '');
    if (raw.endsWith('\\')) {
      pending = `${line} `;
      continue;
    }
    pending = '';
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
  }
  return out;
}

const KNOWN = new Set(['FROM', 'ARG', 'RUN', 'COPY', 'ADD', 'ENV', 'WORKDIR', 'LABEL', 'USER', 'EXPOSE', 'VOLUME', 'CMD', 'ENTRYPOINT',
  'SHELL', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD']);
const BERTH_SOCKET = 'unix:///run/berth/berth.sock';

describe('deploy/kind', () => {
  const text = read('deploy/kind/Dockerfile');
  const steps = dockerfile(text);
  const copies = steps.filter((s) => s.op === 'COPY').map((s) => ({ ...s, words: s.args.split(/\s+/) }));

  it('the Dockerfile parses: known instructions, a kind node image as the last stage, every ARG it uses declared', () => {
    expect(steps.map((s) => s.op).filter((op) => !KNOWN.has(op))).toEqual([]);
    const froms = steps.filter((s) => s.op === 'FROM');
    expect(froms.map((f) => f.args)).toEqual(['node:24-bookworm-slim AS build', '${KIND_NODE_IMAGE}']);
    const declared = new Set(steps.filter((s) => s.op === 'ARG').map((s) => s.args.split('=')[0]!));
    const defaults = Object.fromEntries(steps.filter((s) => s.op === 'ARG' && s.args.includes('=')).map((s) => s.args.split('=') as [string, string]));
    expect(defaults.KIND_NODE_IMAGE).toMatch(/^kindest\/node:v1\.32\.\d+$/);
    expect(defaults.NODE_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    const used = [...text.matchAll(/\$\{?([A-Z_]+)/g)].map((m) => m[1]!).filter((v) => v === v.toUpperCase() && /^(KIND|NODE|TARGET)/.test(v));
    expect(used.filter((v) => !declared.has(v) && v !== 'TARGETARCH')).toEqual([]);
  });

  it('every file the Dockerfile copies from the build context exists; the build stage copies every folder tsconfig.json compiles', () => {
    const fromContext = copies.filter((c) => !c.words[0]!.startsWith('--from='));
    const sources = fromContext.flatMap((c) => c.words.slice(0, -1));
    expect(sources.filter((s) => !existsSync(repo(s)))).toEqual([]);
    const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
    const buildStage = new Set(fromContext.filter((c) => c.stage === 0).flatMap((c) => c.words.slice(0, -1)));
    expect(tsconfig.include.filter((d) => !buildStage.has(d))).toEqual([]);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts']) expect(buildStage).toContain(f);
    // what the node stage takes from the build: the launcher the repository ships, and the build's outputs
    const fromBuild = copies.filter((c) => c.words[0] === '--from=build').map((c) => c.words[1]!);
    expect(fromBuild).toEqual(['/node/bin/node', '/src/package.json', '/src/node_modules', '/src/dist', '/src/shim/containerd-shim-berth-v2']);
    expect(existsSync(repo('shim/containerd-shim-berth-v2'))).toBe(true);
    // the links the node's berth.service and kind load rely on
    expect(text).toContain('ln -s /opt/berth/dist/cli/berth.cjs /usr/local/bin/berth');
    expect(text).toContain('mv /usr/local/bin/ctr /usr/local/libexec/containerd/ctr');
    expect(text).toContain('systemctl enable berth.service berth-preload.service');
  });

  it('the kind cluster config, crictl.yaml, kubelet\'s flags and berth\'s config all name one socket', async () => {
    const config = await loadConfig(repo('deploy/kind/config.toml'));
    expect(`unix://${config.grpc.address}`).toBe(BERTH_SOCKET);
    expect((config.containerd.runtimes.runc!.options as { systemdCgroup: boolean }).systemdCgroup).toBe(true);
    expect(config.sandboxImage).toBe('registry.k8s.io/pause:3.10');

    const cluster = loadYaml<{ kind: string; apiVersion: string; nodes: Array<{ role: string; image: string }>; kubeadmConfigPatches: string[] }>(
      read('deploy/kind/cluster.yaml'));
    expect([cluster.kind, cluster.apiVersion]).toEqual(['Cluster', 'kind.x-k8s.io/v1alpha4']);
    expect(new Set(cluster.nodes.map((n) => n.image)).size).toBe(1);
    expect(text).toContain(`-t ${cluster.nodes[0]!.image} .`);
    const patches = cluster.kubeadmConfigPatches.map((p) => loadYaml<Record<string, unknown>>(p));
    expect(patches).toEqual([
      { kind: 'InitConfiguration', nodeRegistration: { criSocket: BERTH_SOCKET } },
      { kind: 'JoinConfiguration', nodeRegistration: { criSocket: BERTH_SOCKET } },
      { kind: 'KubeletConfiguration', containerRuntimeEndpoint: BERTH_SOCKET },
    ]);
    expect(loadYaml(read('deploy/kind/crictl.yaml'))).toEqual({ 'runtime-endpoint': BERTH_SOCKET, 'image-endpoint': BERTH_SOCKET });
    const extra = /^KUBELET_EXTRA_ARGS=(.*)$/m.exec(read('deploy/kind/kubelet.env'))![1]!.split(/\s+/);
    expect(extra).toEqual(['--runtime-cgroups=/system.slice/berth.service', `--container-runtime-endpoint=${BERTH_SOCKET}`]);
  });

  it.skipIf(!has('systemd-analyze'))('its units pass systemd-analyze verify beside berth.service', () => {
    const r = verifyUnits({
      'berth.service': read('deploy/berth.service'),
      'berth-preload.service': read('deploy/kind/berth-preload.service'),
      'kubelet.service': '[Service]\nExecStart=/usr/bin/kubelet\n',
    });
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
    const dropIn = unitSection(read('deploy/kind/kubelet-berth.conf'), 'Unit');
    expect(dropIn.get('After')).toEqual(['berth.service berth-preload.service']);
  });

  it.skipIf(!has('shellcheck'))('its scripts and deploy/install-systemd.sh pass shellcheck', () => {
    const r = spawnSync('shellcheck', [repo('deploy/kind/ctr'), repo('deploy/kind/export-preloaded.sh'), repo('deploy/install-systemd.sh')], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  describe('the ctr wrapper', () => {
    const bin = mkdtempSync(path.join(tmp, 'bin-'));
    // berthctl and containerd's ctr as recorders: their arguments and the bytes on their stdin
    for (const name of ['berthctl', 'real-ctr']) {
      writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s|' ${name} "$@"\nprintf 'stdin=%s' "$(cat)"\n`);
      chmodSync(path.join(bin, name), 0o755);
    }
    const ctr = (args: string[], input = '') => spawnSync(repo('deploy/kind/ctr'), args, {
      encoding: 'utf8', input, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, BERTH_REAL_CTR: path.join(bin, 'real-ctr') },
    });

    it('hands what kind load runs to berthctl import, archive on stdin', () => {
      for (const args of [
        ['--namespace=k8s.io', 'images', 'import', '-'],
        ['--namespace=k8s.io', 'images', 'import', '--all-platforms', '--digests', '--snapshotter=overlayfs', '-'],
        ['-n', 'k8s.io', 'image', 'import', '--snapshotter', 'overlayfs', '-'],
      ]) {
        const r = ctr(args, 'ARCHIVE');
        expect([r.status, r.stdout], args.join(' ')).toEqual([0, 'berthctl|import|-|stdin=ARCHIVE']);
      }
      expect(ctr(['-n', 'k8s.io', 'i', 'import', '--base-name', 'example.test/app', 'app.tar']).stdout)
        .toBe('berthctl|import|--base-name|example.test/app|app.tar|stdin=');
      expect(ctr(['images', 'import', '--base-name=example.test/app', '/tmp/a.tar']).stdout)
        .toBe('berthctl|import|--base-name|example.test/app|/tmp/a.tar|stdin=');
    });

    it('passes anything else to containerd\'s ctr, and says what this node is when there is none', () => {
      expect(ctr(['-n', 'k8s.io', 'images', 'ls']).stdout).toBe('real-ctr|-n|k8s.io|images|ls|stdin=');
      expect(ctr(['--address', '/x.sock', 'version']).stdout).toBe('real-ctr|--address|/x.sock|version|stdin=');
      const none = spawnSync(repo('deploy/kind/ctr'), ['containers', 'ls'], { encoding: 'utf8', env: { ...process.env, BERTH_REAL_CTR: path.join(tmp, 'none') } });
      expect(none.status).toBe(1);
      expect(none.stderr).toContain('this node runs berth');
    });
  });

  describe.skipIf(!has('containerd') || !has('ctr'))('the preload export, against Debian\'s containerd', () => {
    let containerd: ChildProcess | undefined;
    afterAll(async () => {
      if (containerd && containerd.exitCode === null) {
        containerd.kill('SIGKILL');
        await new Promise((r) => containerd!.once('exit', r));
      }
    });

    it('writes the images of containerd\'s k8s.io namespace to one OCI archive, named as they were', async () => {
      const dir = mkdtempSync(path.join(tmp, 'containerd-'));
      const root = path.join(dir, 'root');
      const sock = path.join(dir, 'containerd.sock');
      // an image in a containerd store, as kind's node image build leaves it
      const layout = path.join(dir, 'layout');
      const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
      const image = makeImage([await makeLayer([{ name: 'hello.txt', content: 'preloaded' }])], { arch });
      await writeLayout(layout, 'v1', image);
      execFileSync('tar', ['-C', layout, '-cf', path.join(dir, 'image.tar'), '.']);
      writeFileSync(path.join(dir, 'config.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
      containerd = spawn('containerd', ['--config', path.join(dir, 'config.toml'), '--root', root, '--state', path.join(dir, 'state'),
        '--address', sock], { stdio: 'ignore' });
      const deadline = Date.now() + 30_000;
      while (spawnSync('ctr', ['--address', sock, 'version']).status !== 0) {
        if (Date.now() > deadline) throw new Error('containerd did not serve');
        await new Promise((r) => setTimeout(r, 100));
      }
      execFileSync('ctr', ['--address', sock, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack', '--base-name', 'example.test/preload',
        path.join(dir, 'image.tar')]);
      containerd.kill('SIGTERM');
      await new Promise((r) => containerd!.once('exit', r));

      const out = path.join(dir, 'kind', 'berth-preload.tar');
      const r = spawnSync('sh', [repo('deploy/kind/export-preloaded.sh'), out], {
        encoding: 'utf8', env: { ...process.env, BERTH_CONTAINERD_ROOT: root, BERTH_REAL_CTR: execFileSync('sh', ['-c', 'command -v ctr'], { encoding: 'utf8' }).trim() },
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^export-preloaded: 1 images in /);
      const unpacked = path.join(dir, 'unpacked');
      execFileSync('mkdir', [unpacked]);
      execFileSync('tar', ['-C', unpacked, '-xf', out]);
      const index = JSON.parse(readFileSync(path.join(unpacked, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
      expect(index.manifests.map((m) => [m.digest, m.annotations?.['io.containerd.image.name']])).toEqual([[image.manifest.digest, 'example.test/preload:v1']]);
      for (const b of [image.manifest, image.config, ...image.layers]) expect(existsSync(path.join(unpacked, 'blobs', 'sha256', b.digest.slice(7)))).toBe(true);
    });
  });
});
