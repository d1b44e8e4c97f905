// containerd-shim-berth-v2, the less common paths: stdin and CloseIO, pty resize, Update,
// crun through Options.BinaryName, a container without its own pid namespace, OOM events.
import { closeSync, constants, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerd } from '../../proto/index.js';
import { bytesToRead } from '../../sys/index.js';
import {
  CALL, bundleDir, connectTask, isAlive, makeTaskBundle, outputFifo, processSpec, rand, runcOptions, shimStart,
  shimEnvPerTest, waitForEvents, waitUntil, type ShimEnv, type TaskClient,
} from './shim-harness.js';

const newEnv = shimEnvPerTest();

/** A FIFO the test writes (a process's stdin); opened O_RDWR so it never blocks. */
function inputFifo(e: ShimEnv, name: string): { path: string; write: (s: string) => void; close: () => void } {
  const out = outputFifo(e, name); // creates the FIFO (and a reader we do not use: close it)
  out.reader.close();
  const fd = openSync(out.path, constants.O_RDWR);
  return { path: out.path, write: (s) => void writeSync(fd, s), close: () => closeSync(fd) };
}

async function oneTask(e: ShimEnv, args: string[], edit?: Parameters<typeof makeTaskBundle>[3], binaryName = ''): Promise<{ id: string; task: TaskClient; pid: number }> {
  const id = `t-${rand()}`;
  await makeTaskBundle(e, id, { args }, edit);
  const task = await connectTask(e, await shimStart(e, id));
  const { pid } = await task.Create({ id, bundle: bundleDir(e, id), options: runcOptions(e, binaryName) }, CALL);
  await task.Start({ id }, CALL);
  return { id, task, pid: pid ?? 0 };
}

function cgroupFile(pid: number, controller: string, file: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return readFileSync(path.join('/sys/fs/cgroup', controller, line?.split(':')[2] ?? '/', file), 'utf8').trim();
}

describe('containerd-shim-berth-v2 stdio, resources and runtimes', () => {
  it('copies a stdin FIFO into an exec and gives it EOF on CloseIO', async () => {
    const e = await newEnv();
    const { id, task } = await oneTask(e, ['sleep', '60']);
    const stdin = inputFifo(e, 'in');
    const out = outputFifo(e, 'out');
    await task.Exec({ id, execId: 'cat', stdin: stdin.path, stdout: out.path, spec: processSpec(['cat']) }, CALL);
    const waited = task.Wait({ id, execId: 'cat' });
    await task.Start({ id, execId: 'cat' }, CALL);
    stdin.write('through the shim\n');
    expect(await out.reader.waitFor('through the shim\n')).toBe('through the shim\n');
    expect((await task.State({ id, execId: 'cat' }, CALL)).status).toBe(2); // still reading
    await task.CloseIO({ id, execId: 'cat', stdin: true }, CALL);
    expect((await waited).exitStatus).toBe(0);
    stdin.close();
    await task.Kill({ id, signal: 9 }, CALL);
    await task.Wait({ id });
    await task.Delete({ id }, CALL);
  });

  it('CloseIO right after the FIFO was emptied still delivers every byte the shim had taken (a slow reader)', async () => {
    const e = await newEnv();
    const { id, task } = await oneTask(e, ['sleep', '60']);
    const stdin = inputFifo(e, 'slowin');
    const out = outputFifo(e, 'slowout');
    // the reader starts late, so the copy stalls with bytes held inside the shim
    await task.Exec({ id, execId: 'wc', stdin: stdin.path, stdout: out.path, spec: processSpec(['sh', '-c', 'sleep 1; wc -c']) }, CALL);
    const waited = task.Wait({ id, execId: 'wc' });
    await task.Start({ id, execId: 'wc' }, CALL);
    const total = 160 * 1024;
    const probe = openSync(stdin.path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      // blocks while the FIFO is full: the shim drains it as the process reads
      for (let sent = 0; sent < total; sent += 32 * 1024) stdin.write('x'.repeat(32 * 1024));
      // the daemon's rule before CloseIO: every byte was taken out of the FIFO
      expect(await waitUntil(() => bytesToRead(probe) === 0)).toBe(true);
    } finally {
      closeSync(probe);
    }
    await task.CloseIO({ id, execId: 'wc', stdin: true }, CALL);
    expect((await waited).exitStatus).toBe(0);
    expect((await out.reader.waitFor('\n')).trim()).toBe(String(total));
    stdin.close();
    await task.Kill({ id, signal: 9 }, CALL);
    await task.Wait({ id });
    await task.Delete({ id }, CALL);
  });

  it('resizes a TTY exec (ResizePty) and updates resources (Update)', async () => {
    const e = await newEnv();
    const { id, task, pid } = await oneTask(e, ['sleep', '60']);
    const stdin = inputFifo(e, 'tin');
    const out = outputFifo(e, 'tout');
    await task.Exec({ id, execId: 'tty', terminal: true, stdin: stdin.path, stdout: out.path, spec: processSpec(['sh', '-c', 'read x; stty size'], true) }, CALL);
    const waited = task.Wait({ id, execId: 'tty' });
    await task.Start({ id, execId: 'tty' }, CALL);
    await task.ResizePty({ id, execId: 'tty', width: 101, height: 41 }, CALL);
    stdin.write('go\n');
    expect((await waited).exitStatus).toBe(0);
    expect(await out.reader.waitFor('41 101')).toMatch(/41 101\r\n$/);
    stdin.close();

    const resources = { pids: { limit: 42 } };
    await task.Update({ id, resources: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: new TextEncoder().encode(JSON.stringify(resources)) } }, CALL);
    expect(cgroupFile(pid, 'pids', 'pids.max')).toBe('42');
    await task.Kill({ id, signal: 9 }, CALL);
    await task.Wait({ id });
    await task.Delete({ id }, CALL);
  });

  it('runs the OCI runtime named by Options.BinaryName', async () => {
    // crun itself refuses this host's hybrid cgroup layout, so a logging runc wrapper stands in.
    const e = await newEnv();
    const calls = path.join(e.tmp, 'calls');
    const wrapper = path.join(e.tmp, 'my-runc');
    writeFileSync(wrapper, `#!/bin/sh\necho "$1 $2 $3 $4 $5 $6 $7" >> ${calls}\nexec runc "$@"\n`, { mode: 0o755 });
    const { id, task } = await oneTask(e, ['sh', '-c', 'exit 6'], undefined, wrapper);
    expect((await task.Wait({ id })).exitStatus).toBe(6);
    await task.Delete({ id }, CALL);
    const verbs = readFileSync(calls, 'utf8').trim().split('\n').map((l) => l.split(' ')[6]);
    expect(verbs).toEqual(['create', 'start', 'delete']);
    expect(readFileSync(path.join(bundleDir(e, id), 'runtime'), 'utf8')).toBe(wrapper);
    expect(JSON.parse(readFileSync(path.join(bundleDir(e, id), 'options.json'), 'utf8'))).toEqual({ binary_name: wrapper, root: e.runcRoot });
  });

  it('kills the processes left behind by an init that has no pid namespace of its own', async () => {
    const e = await newEnv();
    const { id, task } = await oneTask(e, ['sh', '-c', 'sleep 60 & echo $! > /bg.pid; exec sleep 60'], (spec) => {
      const linux = spec.linux as { namespaces: { type: string }[] };
      linux.namespaces = linux.namespaces.filter((n) => n.type !== 'pid');
    });
    const bgFile = path.join(bundleDir(e, id), 'rootfs/bg.pid');
    expect(await waitUntil(() => existsSync(bgFile) && readFileSync(bgFile, 'utf8').trim() !== '')).toBe(true);
    const bg = Number(readFileSync(bgFile, 'utf8'));
    expect(isAlive(bg)).toBe(true);
    await task.Kill({ id, signal: 9 }, CALL);
    expect((await task.Wait({ id })).exitStatus).toBe(137);
    expect(await waitUntil(() => !isAlive(bg))).toBe(true);
    await task.Delete({ id }, CALL);
  });

  it('publishes /tasks/oom when the container hits its memory limit', async () => {
    const e = await newEnv();
    const { id, task } = await oneTask(e, ['sh', '-c', 'a=0123456789abcdef; while :; do a=$a$a; done'], (spec) => {
      (spec.linux as { resources: Record<string, unknown> }).resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    expect((await task.Wait({ id })).exitStatus).toBe(137);
    await task.Delete({ id }, CALL);
    const topics = await waitForEvents(e, 5);
    expect(topics).toContain('/tasks/oom');
    const oom = e.events.find((ev) => ev.topic === '/tasks/oom');
    expect(containerd.events.TaskOOM.decode(oom?.value ?? new Uint8Array(0)).containerId).toBe(id);
  });
});
