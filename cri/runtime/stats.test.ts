// Container stats read each cgroup v1 controller at the process's own path for it: a process may
// sit at different paths in different hierarchies (this host nests only memory, under
// /process_api/<hash>). A real process is put at /<name> for cpuacct and pids but at
// /<name>/nested for memory, and must still report cpu and memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerRecord } from '../store/index.js';
import { containerStats } from './stats.js';

const ROOT = '/sys/fs/cgroup';
let child: ChildProcess | undefined;
/** cgroup dirs this test made, deepest last. */
const made: string[] = [];

afterEach(async () => {
  if (child && child.exitCode === null) {
    const gone = new Promise((r) => child?.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
  child = undefined;
  for (const dir of made.splice(0).reverse()) if (existsSync(dir)) rmdirSync(dir);
});

function joinCgroup(pid: number, controller: string, rel: string): void {
  const dir = path.join(ROOT, controller, rel);
  mkdirSync(dir);
  made.push(dir);
  writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
}

function controllerPath(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line?.split(':')[2] ?? '';
}

describe.runIf(existsSync(path.join(ROOT, 'memory')))('containerStats (cgroup v1)', () => {
  it('reports cpu and memory of a process whose memory cgroup is elsewhere than its cpuacct one', async () => {
    // once moved, it grows a 1 MiB string (charged to its new memory cgroup) and waits on stdin
    const script = 'sleep 0.3; a=0123456789abcdef; for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do a=$a$a; done; read x';
    child = spawn('/usr/bin/busybox', ['sh', '-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pid = child.pid ?? 0;
    const name = `berth-stats-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    for (const controller of ['cpuacct', 'pids', 'memory']) joinCgroup(pid, controller, name);
    joinCgroup(pid, 'memory', `${name}/nested`);
    expect(controllerPath(pid, 'memory')).not.toBe(controllerPath(pid, 'cpuacct'));

    const record = { id: 'c1', pid, metadata: { name: 'c1', attempt: 0 }, config: {} } as unknown as ContainerRecord;
    const deps = { images: { rootfsUsage: () => Promise.resolve(undefined) } } as unknown as Parameters<typeof containerStats>[0];
    const grown = (s: Awaited<ReturnType<typeof containerStats>>): boolean => Number(s.memory?.workingSetBytes?.value ?? 0) >= 1024 * 1024;
    let stats = await containerStats(deps, record);
    for (const until = Date.now() + 10_000; !grown(stats) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 50));
      stats = await containerStats(deps, record);
    }
    expect(Number(stats.cpu?.usageCoreNanoSeconds?.value ?? 0)).toBeGreaterThan(0);
    expect(Number(stats.memory?.workingSetBytes?.value ?? 0)).toBeGreaterThan(0);
  });
});
