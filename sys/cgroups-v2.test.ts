// The unified (v2) code path of sys/cgroups: the parsers and readers on fixture cgroupfs trees in
// the kernel's v2 formats, OOM events from memory.events through inotify, the systemd driver's
// path forms, and — on this hybrid host — a real child cgroup in the cgroup2 mount read through
// the same code (docs/sys.md "cgroups"; what has not run on a v2 host is listed there).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKind } from '../common/index.js';
import {
  cgroupOfPid, cgroupVersion, expandSlice, hybridUnifiedRoot, OomWatcher, parseCpuMax, parseFlatKeyed, parseMax, readCgroupLimits,
  readCgroupStats, readCgroupStatsOfPid, resolveCgroupPath, sharesToWeight, unifiedPathOf, weightToShares, type CgroupHierarchy,
} from './index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fixture v2 tree: `files` by path relative to the root ("pod/ctr/cpu.stat"). */
function fixtureTree(files: Record<string, string>): CgroupHierarchy & { version: 2 } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-cgv2-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return { version: 2, root };
}

// As a 6.x kernel writes them (trimmed to the keys berth reads, plus neighbours).
const CPU_STAT = 'usage_usec 1534287\nuser_usec 1200000\nsystem_usec 334287\nnr_periods 12\nnr_throttled 3\nthrottled_usec 5123\n';
const MEMORY_STAT = 'anon 6291456\nfile 10485760\nkernel 540672\nactive_file 2097152\ninactive_file 8388608\npgfault 4821\npgmajfault 17\n';
const MEMORY_EVENTS = 'low 0\nhigh 0\nmax 4\noom 0\noom_kill 0\noom_group_kill 0\n';
const container = {
  'kubepods.slice/pod/ctr/cpu.stat': CPU_STAT, 'kubepods.slice/pod/ctr/memory.stat': MEMORY_STAT,
  'kubepods.slice/pod/ctr/memory.current': '18874368\n', 'kubepods.slice/pod/ctr/memory.max': '67108864\n',
  'kubepods.slice/pod/ctr/memory.events': MEMORY_EVENTS, 'kubepods.slice/pod/ctr/pids.current': '3\n', 'kubepods.slice/pod/ctr/pids.max': 'max\n',
  'kubepods.slice/pod/ctr/cpu.max': '50000 100000\n', 'kubepods.slice/pod/ctr/cpu.weight': '39\n',
};

describe('v2 parsers', () => {
  it('reads flat keyed files, limits, cpu.max and the unified line of /proc/<pid>/cgroup', () => {
    expect(parseFlatKeyed(CPU_STAT).get('usage_usec')).toBe(1534287);
    expect(parseFlatKeyed(MEMORY_EVENTS).get('oom_kill')).toBe(0);
    expect(parseMax('max\n')).toBeNull();
    expect(parseMax('67108864\n')).toBe(67108864);
    expect(() => parseMax('lots')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(parseCpuMax('max 100000\n')).toEqual({ quota: null, period: 100000 });
    expect(parseCpuMax('50000 100000\n')).toEqual({ quota: 50000, period: 100000 });
    expect(unifiedPathOf('12:pids:/a\n1:name=systemd:/b\n0::/kubepods.slice/x.scope\n')).toBe('/kubepods.slice/x.scope');
    expect(unifiedPathOf('4:memory:/a\n')).toBeUndefined();
  });

  it('turns cpu.weight back into the shares runc converted it from', () => {
    // runc: weight = 1 + (shares - 2) * 9999 / 262142
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(39);
    for (const shares of [2, 102, 512, 1024, 2048, 262144]) expect(sharesToWeight(weightToShares(sharesToWeight(shares)))).toBe(sharesToWeight(shares));
    expect(weightToShares(1)).toBe(2);
    expect(weightToShares(10000)).toBe(262144);
    expect(() => weightToShares(0)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('systemd cgroup paths', () => {
  it('expands slices and slice:prefix:name as systemd and runc do', () => {
    expect(expandSlice('kubepods-burstable-pod12_34.slice')).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice');
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('-.slice')).toBe('/');
    for (const bad of ['kubepods', 'a/b.slice', '-a.slice', 'a-.slice', 'a--b.slice']) {
      expect(() => expandSlice(bad)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    }
    expect(resolveCgroupPath('kubepods-besteffort-podab.slice:cri-containerd:c0ffee'))
      .toBe('/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab.slice/cri-containerd-c0ffee.scope');
    expect(resolveCgroupPath(':cri-containerd:c0ffee')).toBe('/system.slice/cri-containerd-c0ffee.scope');
    expect(resolveCgroupPath('kubepods.slice:cri-containerd:inner.slice')).toBe('/kubepods.slice/inner.slice');
    expect(resolveCgroupPath('kubepods-pod1.slice')).toBe('/kubepods.slice/kubepods-pod1.slice');
    expect(resolveCgroupPath('/kubepods/burstable/pod1')).toBe('/kubepods/burstable/pod1');
    expect(() => resolveCgroupPath('a:b')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('v2 reads on a fixture tree', () => {
  it('reads stats and limits of a cgroup the systemd driver named', () => {
    const h = fixtureTree(container);
    const p = '/kubepods.slice/pod/ctr';
    expect(readCgroupStats(p, h)).toEqual({
      cpu: { usageNs: 1534287000, userNs: 1200000000, systemNs: 334287000 },
      memory: {
        usageBytes: 18874368, workingSetBytes: 18874368 - 8388608, rssBytes: 6291456, cacheBytes: 10485760, inactiveFileBytes: 8388608,
        limitBytes: 67108864, pageFaults: 4821, majorPageFaults: 17,
      },
      pids: { current: 3, limit: null },
    });
    expect(readCgroupLimits(p, h)).toEqual({ cpuQuota: 50000, cpuPeriod: 100000, cpuShares: weightToShares(39), memoryBytes: 67108864, pids: null });
  });

  it('reads a pod cgroup kubelet names by its systemd slice (as the CRI pod stats do)', () => {
    const pod = 'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podu_1.slice';
    const h = fixtureTree({ [`${pod}/cpu.stat`]: CPU_STAT, [`${pod}/pids.current`]: '7\n', [`${pod}/pids.max`]: '1024\n' });
    const s = readCgroupStats(resolveCgroupPath('kubepods-besteffort-podu_1.slice'), h);
    expect(s.cpu.usageNs).toBe(1534287000);
    expect(s.pids).toEqual({ current: 7, limit: 1024 });
  });

  it('reads a cgroup whose memory and pids controllers are not enabled as no use and no limit', () => {
    const h = fixtureTree({ 'plain/cpu.stat': CPU_STAT });
    const s = readCgroupStats('/plain', h);
    expect(s.cpu.usageNs).toBe(1534287000);
    expect(s.memory).toMatchObject({ usageBytes: 0, workingSetBytes: 0, limitBytes: null });
    expect(s.pids).toEqual({ current: 0, limit: null });
    expect(readCgroupLimits('/plain', h)).toEqual({ cpuQuota: null, cpuPeriod: null, cpuShares: null, memoryBytes: null, pids: null });
  });

  it('reports a missing cgroup as not-found and refuses a path out of the tree', () => {
    const h = fixtureTree(container);
    let err: unknown;
    try {
      readCgroupStats('/kubepods.slice/gone', h);
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'not-found')).toBe(true);
    expect(() => readCgroupLimits('/kubepods.slice/gone', h)).toThrow(expect.objectContaining({ kind: 'not-found' }));
    expect(() => readCgroupStats('/../../etc', h)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });

  it('emits oom when memory.events counts an oom_kill, from the inotify watch alone', async () => {
    const h = fixtureTree(container);
    const p = '/kubepods.slice/pod/ctr';
    const watcher = new OomWatcher({ version: h, intervalMs: 3_600_000 }); // the timer never fires within the test
    cleanups.push(() => watcher.close());
    watcher.add(p);
    const events: string[] = [];
    watcher.on('oom', (x) => events.push(x));
    const oom = new Promise<string>((r) => watcher.once('oom', r));
    writeFileSync(path.join(h.root, p, 'memory.events'), MEMORY_EVENTS.replace('oom 0', 'oom 1').replace('oom_kill 0', 'oom_kill 1'));
    expect(await oom).toBe(p);
    // a change that is not an oom_kill (max) is not one
    writeFileSync(path.join(h.root, p, 'memory.events'), MEMORY_EVENTS.replace('max 4', 'max 9').replace('oom 0', 'oom 1').replace('oom_kill 0', 'oom_kill 1'));
    watcher.check();
    expect(events).toEqual([p]);
    // the cgroup removed: dropped without an event
    rmSync(path.join(h.root, p), { recursive: true });
    watcher.check();
    expect(events).toEqual([p]);
  });
});

const unified = hybridUnifiedRoot();

describe.skipIf(unified === undefined)('the cgroup2 mount of this hybrid host', () => {
  it('reads a child cgroup and a process in it through the v2 code path', async () => {
    const h: CgroupHierarchy = { version: 2, root: unified! };
    const rel = `/berth-v2-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    mkdirSync(path.join(unified!, rel));
    const child = spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    const gone = new Promise((r) => child.once('exit', r));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await gone;
      rmdirSync(path.join(unified!, rel));
    });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    writeFileSync(path.join(unified!, rel, 'cgroup.procs'), String(pid));
    expect(cgroupOfPid(pid, '', h)).toBe(rel);
    const deadline = Date.now() + 10_000;
    let usage = 0;
    while (usage === 0 && Date.now() < deadline) {
      usage = readCgroupStatsOfPid(pid, h).cpu.usageNs;
      if (usage === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(usage).toBeGreaterThan(0);
    expect(readCgroupStats(rel, h).cpu.usageNs).toBeGreaterThanOrEqual(usage);
    // memory is bound to its v1 hierarchy here: no memory files, so no use, no limit, no OOM counter
    expect(readCgroupStats(rel, h).memory.limitBytes).toBeNull();
    const watcher = new OomWatcher({ version: h, intervalMs: 3_600_000 });
    cleanups.push(() => watcher.close());
    watcher.add(rel);
    let fired = false;
    watcher.on('oom', () => (fired = true));
    watcher.check();
    expect(fired).toBe(false);
    expect(cgroupVersion()).toBe(1); // a hybrid host stays v1 for everything else
  });
});
