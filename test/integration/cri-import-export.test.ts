// berthctl import/export against a real daemon through its admin socket (docs/images.md "Import
// and export"): archives skopeo made from a real docker-registry are imported once the registry is
// gone, and a container runs from each through the CRI; an export re-imports to the same image id;
// a hostile archive is refused with nothing left in the daemon's stores; the socket is root's only.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { bundleEntry } from '../helpers/bundle.js';
import { startRegistry } from '../helpers/registry.js';
import { busyboxLayer, makeImage, makeLayer, tarBytes, writeLayout } from '../fixtures/oci-image.js';
import { podConfig, startBerth, until, type Berth } from './cri-harness.js';

const run = promisify(execFile);
const v1 = runtime.v1;
let b: Berth;
let ctl: string;
let work: string;
let imageId: string;
const tars: Record<'oci' | 'docker', string> = { oci: '', docker: '' };
let repo = '';

beforeAll(async () => {
  [b, ctl] = await Promise.all([startBerth(), bundleEntry('cli/berthctl.ts')]);
  work = path.join(b.dir, 'archives');
  await fs.mkdir(work);
  const img = makeImage([await busyboxLayer(), await makeLayer([{ name: 'hello', content: 'imported, not pulled\n' }], { gzip: true })],
    { cmd: ['cat', '/hello'] });
  imageId = img.config.digest;
  await writeLayout(path.join(work, 'layout'), 'v1', img);
  const reg = await startRegistry();
  try {
    await reg.push(path.join(work, 'layout'), 'v1', 'test/offline');
    repo = `${reg.host}/test/offline`;
    tars.oci = path.join(work, 'oci.tar');
    tars.docker = path.join(work, 'docker.tar');
    for (const [kind, file] of [['oci-archive', tars.oci], ['docker-archive', tars.docker]] as const) {
      await run('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', '--quiet', `docker://${repo}:v1`, `${kind}:${file}:${repo}:v1`], { timeout: 60_000 });
    }
  } finally {
    await reg.stop();
  }
}, 180_000);
afterAll(async () => {
  await b?.stop();
}, 120_000);

const berthctl = async (...args: string[]) => (await run(process.execPath, [ctl, '--address', b.address, ...args], { timeout: 120_000 })).stdout;
const berthctlFails = async (...args: string[]) => {
  try {
    await run(process.execPath, [ctl, '--address', b.address, ...args], { timeout: 60_000 });
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? '';
  }
  throw new Error(`berthctl ${args.join(' ')} succeeded`);
};
const imagesRoot = () => path.join(b.dir, 'root', 'images');
const blobs = () => readdirSync(path.join(imagesRoot(), 'content', 'blobs', 'sha256')).sort();
const staging = () => (existsSync(path.join(imagesRoot(), 'import')) ? readdirSync(path.join(imagesRoot(), 'import')) : []);

async function runFrom(image: string): Promise<string> {
  const config = podConfig(b, 'imported');
  const { podSandboxId } = await b.cri.runtime.RunPodSandbox({ config });
  try {
    const { containerId } = await b.cri.runtime.CreateContainer({
      podSandboxId, sandboxConfig: config, config: { metadata: { name: 'hello' }, image: { image }, logPath: 'hello.log' },
    });
    await b.cri.runtime.StartContainer({ containerId });
    await until(async () => (await b.cri.runtime.ContainerStatus({ containerId })).status!.state === v1.ContainerState.CONTAINER_EXITED, 'exit');
    return readFileSync(path.join(config.logDirectory, 'hello.log'), 'utf8');
  } finally {
    await b.cri.runtime.StopPodSandbox({ podSandboxId });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId });
  }
}

describe('berthctl import/export', () => {
  it('serves the admin socket beside the CRI socket, root only', () => {
    const sock = path.join(b.dir, 'berth-admin.sock');
    expect(statSync(sock).isSocket()).toBe(true);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
  });

  it.each(['oci', 'docker'] as const)('imports a %s archive and runs a container from it with no registry reachable', async (kind) => {
    const out = await berthctl('import', tars[kind]);
    expect(out).toBe(`${repo}:v1: ${imageId} (${out.split('(')[1]!.split(')')[0]})\n`);
    const st = await b.cri.image.ImageStatus({ image: { image: `${repo}:v1` } });
    expect(st.image?.id).toBe(imageId);
    expect(st.image?.repoTags).toEqual([`${repo}:v1`]);
    expect(await runFrom(`${repo}:v1`)).toMatch(/ stdout F imported, not pulled$/m);
    await b.cri.image.RemoveImage({ image: { image: imageId } });
    expect(staging()).toEqual([]);
  }, 120_000);

  it('exports an image that imports again to the same image id', async () => {
    await berthctl('import', tars.oci);
    const out = path.join(work, 'exported.tar');
    expect(await berthctl('export', `${repo}:v1`, out)).toBe(`${repo}:v1: ${out}\n`);
    await b.cri.image.RemoveImage({ image: { image: imageId } });
    expect((await b.cri.image.ImageStatus({ image: { image: imageId } })).image).toBeNull();
    expect(await berthctl('import', out)).toMatch(new RegExp(`^${repo}:v1: ${imageId} `));
    expect(await runFrom(imageId)).toMatch(/ stdout F imported, not pulled$/m);
    // through a pipe: export to stdout, import from stdin
    const q = (x: string) => `'${x}'`;
    const piped = await run('/bin/sh', ['-c', `${q(process.execPath)} ${q(ctl)} --address ${q(b.address)} export ${q(imageId)} - `
      + `| ${q(process.execPath)} ${q(ctl)} --address ${q(b.address)} import --base-name example.com/piped -`], { timeout: 120_000 });
    expect(piped.stdout).toMatch(new RegExp(`^${repo}:v1: ${imageId} `));
    // an image that is not there: an error, and no file
    expect(await berthctlFails('export', 'example.com/nosuch:1', path.join(work, 'none.tar'))).toMatch(/not found/);
    expect(existsSync(path.join(work, 'none.tar'))).toBe(false);
    await b.cri.image.RemoveImage({ image: { image: imageId } });
  }, 120_000);

  it('refuses an archive with a ../ member or a wrong digest, leaving nothing behind', async () => {
    const before = { images: (await b.cri.image.ListImages({})).images.map((i) => i.id).sort(), blobs: blobs() };
    const good = await makeLayer([{ name: 'x', content: 'x\n' }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [good.diffId] } });
    const climbing = path.join(work, 'climbing.tar');
    await fs.writeFile(climbing, await tarBytes([
      { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['example.com/bad:1'], Layers: ['l.tar'] }]) },
      { name: 'c.json', content: config }, { name: 'l.tar', content: good.data }, { name: '../../escaped', content: 'x' },
    ]));
    expect(await berthctlFails('import', climbing)).toMatch(/contains '\.\.'/);
    const lying = path.join(work, 'lying.tar');
    await fs.writeFile(lying, await tarBytes([
      { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['example.com/bad:1'], Layers: [`${'0'.repeat(64)}.tar`] }]) },
      { name: 'c.json', content: config }, { name: `${'0'.repeat(64)}.tar`, content: good.data },
    ]));
    expect(await berthctlFails('import', lying)).toMatch(/unexpected commit digest/);
    expect((await b.cri.image.ListImages({})).images.map((i) => i.id).sort()).toEqual(before.images);
    expect(blobs()).toEqual(before.blobs);
    expect(staging()).toEqual([]);
    expect(readdirSync(path.join(imagesRoot(), 'content', 'ingest'))).toEqual([]);
  }, 60_000);
});
