import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isKind } from '../common/index.js';
import { becomeSubreaper, cgroupDir, cgroupOfPid, cgroupVersion, OomWatcher, readCgroupStats, readCgroupStatsOfPid, Reaper } from './index.js';
import { TestContainer } from './testdata/runc-bundle.js';

const cleanups: (() => Promise<void> | void)[] = [];
let reaper: Reaper;

beforeAll(() => {
  becomeSubreaper();
  reaper = new Reaper();
  return () => reaper.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function container(opts: Omit<ConstructorParameters<typeof TestContainer>[0], 'reaper'>): TestContainer {
  const c = new TestContainer({ ...opts, reaper });
  cleanups.push(() => c.destroy());
  return c;
}

describe('cgroups', () => {
  it('detects the cgroup version of this host', () => {
    expect([1, 2]).toContain(cgroupVersion());
  });

  it('reads non-zero stats of a running container and finds its cgroup from its pid', async () => {
    const limit = 64 * 1024 * 1024;
    const ctr = container({ args: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; x=$(head -c 2000000 /dev/zero | tr "\\0" a); exec sleep 30'], memoryLimit: limit });
    const pid = await ctr.create();
    await ctr.runc('start', ctr.id);
    expect(cgroupOfPid(pid, 'memory')).toBe(ctr.cgroupsPath);
    // wait for the loop to finish (the process execs sleep)
    while (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep')) await new Promise((r) => setTimeout(r, 20));
    const s = readCgroupStats(ctr.cgroupsPath);
    expect(s.cpu.usageNs).toBeGreaterThan(0);
    expect(s.memory.usageBytes).toBeGreaterThan(0);
    expect(s.memory.workingSetBytes).toBeGreaterThan(0);
    expect(s.memory.workingSetBytes).toBeLessThanOrEqual(s.memory.usageBytes);
    expect(s.memory.limitBytes).toBe(limit);
    expect(s.pids.current).toBeGreaterThanOrEqual(1);
    expect(s.pids.limit).toBeNull();
  });

  it.skipIf(cgroupVersion() === 2)('reads each v1 controller at the process\'s own path when they differ', async () => {
    // The process sits at three different paths in the memory, cpuacct and pids hierarchies.
    const tag = `berth-sys-split-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const paths = { memory: `/${tag}-mem`, cpuacct: `/${tag}-cpu`, pids: `/${tag}-pids` };
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const gone = new Promise((r) => child.once('exit', r));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await gone;
      for (const [controller, p] of Object.entries(paths)) {
        try {
          rmdirSync(cgroupDir(p, controller, 1));
        } catch {
          // never made
        }
      }
    });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    for (const [controller, p] of Object.entries(paths)) {
      const dir = cgroupDir(p, controller, 1);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    }
    writeFileSync(path.join(cgroupDir(paths.pids, 'pids', 1), 'pids.max'), '7');
    expect(cgroupOfPid(pid, 'cpuacct')).toBe(paths.cpuacct);
    const s = readCgroupStatsOfPid(pid);
    expect(s.pids).toEqual({ current: 1, limit: 7 });
    expect(s.memory.limitBytes).toBeNull();
    expect(s.cpu.usageNs).toBeGreaterThanOrEqual(0);
    // one path for every controller finds no cpuacct/pids cgroup at the memory path
    expect(() => readCgroupStats(cgroupOfPid(pid, 'memory'))).toThrow(expect.objectContaining({ kind: 'not-found' }));
    expect(() => readCgroupStatsOfPid(2 ** 22 + 1)).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });

  it('reports a missing cgroup as not-found', () => {
    let err: unknown;
    try {
      readCgroupStats(`/berth-sys-missing-${process.pid}`);
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'not-found')).toBe(true);
    expect(() => new OomWatcher().add(`/berth-sys-missing-${process.pid}`)).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });

  it('refuses a cgroup path that escapes the hierarchy', () => {
    expect(() => readCgroupStats('/../../etc')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('oom', () => {
  it('emits oom for a container that outgrows its memory limit', async () => {
    const ctr = container({ args: ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo survived'], memoryLimit: 16 * 1024 * 1024 });
    await ctr.create();
    const watcher = new OomWatcher({ intervalMs: 50 });
    cleanups.push(() => watcher.close());
    watcher.add(ctr.cgroupsPath);
    const oom = new Promise<string>((r) => watcher.once('oom', r));
    await ctr.runc('start', ctr.id);
    expect(await oom).toBe(ctr.cgroupsPath);
    const status = (await ctr.exited)?.status;
    expect(status).not.toBe(0);
  });

  it('does not emit oom when the cgroup is removed without an OOM', async () => {
    const ctr = container({ args: ['true'], memoryLimit: 32 * 1024 * 1024 });
    await ctr.create();
    const watcher = new OomWatcher({ intervalMs: 1_000_000 });
    cleanups.push(() => watcher.close());
    watcher.add(ctr.cgroupsPath);
    let fired = false;
    watcher.on('oom', () => (fired = true));
    await ctr.destroy();
    watcher.check();
    expect(fired).toBe(false);
  });
});
