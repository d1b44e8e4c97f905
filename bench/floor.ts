// The floor: what the same work costs without any daemon. `runc run -d` of a busybox bundle
// (until runc returns with the container running) and a netns + CNI ADD of the bench network.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeBundle, makeOciSpec } from '../test/fixtures/index.js';
import { cniAddAlone, type BenchNetwork } from './network.js';
import { nowMs, rand, runCmd, runNoStdio } from './proc.js';
import type { Samples } from './figures.js';

export async function floor(dir: string, net: BenchNetwork, count: number): Promise<Samples> {
  const work = path.join(dir, `floor-${rand()}`);
  const runcRoot = path.join(work, 'runc');
  const bundle = path.join(work, 'bundle');
  await mkdir(work, { recursive: true });
  await makeBundle(bundle, makeOciSpec({ args: ['sleep', '2147483647'] }));
  const runc: number[] = [];
  const cni: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const id = `floor-${rand()}`;
      const t = nowMs();
      await runNoStdio('runc', ['--root', runcRoot, 'run', '-d', '--bundle', bundle, '--pid-file', path.join(work, `${id}.pid`), id]);
      runc.push(nowMs() - t);
      await runCmd('runc', ['--root', runcRoot, 'delete', '--force', id]);
      const c = await cniAddAlone(net, `floor${rand()}`);
      cni.push(c.netnsMs + c.addMs);
    }
  } finally {
    const left = await runCmd('runc', ['--root', runcRoot, 'list', '-q']).catch(() => undefined);
    for (const id of left?.stdout.split('\n').filter(Boolean) ?? []) await runCmd('runc', ['--root', runcRoot, 'delete', '--force', id]);
    await rm(work, { recursive: true, force: true });
  }
  return { 'floor-runc': runc, 'floor-cni': cni };
}
