// berthctl against a real berth daemon: the quickstart demo pod prints its log; pods, ps, logs,
// stop and rm work on it.
import { execFile } from 'node:child_process';
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
});
