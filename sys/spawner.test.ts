import { once } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PosixChild, posixSpawnUnusable } from './posix-child.js';
import { spawnHelper } from './reaper.js';
import { runProcess, SpawnError } from './spawner.js';

// posix_spawn (the default), and Node's spawn, which takes over should posix_spawn be unusable.
describe.each(['posix_spawn', 'Node spawn'])('runProcess with %s', (mode) => {
  beforeEach(() => posixSpawnUnusable(mode !== 'posix_spawn'));
  afterEach(() => posixSpawnUnusable(false));

  it('feeds stdin, collects stdout, stderr (and both in order) and the exit status', async () => {
    const r = await runProcess({
      file: '/bin/sh', args: ['-c', 'read x; echo "got $x"; echo oops >&2; echo "$FOO"; exit 3'], input: 'hello\n',
      env: { PATH: '/usr/bin:/bin', FOO: 'bar' }, timeoutMs: 10_000,
    });
    expect([r.code, r.signal, r.timedOut]).toEqual([3, null, false]);
    expect(r.stdout.toString()).toBe('got hello\nbar\n');
    expect(r.stderr.toString()).toBe('oops\n');
    expect(r.combined.toString().split('\n').sort()).toEqual(['', 'bar', 'got hello', 'oops']);
  });

  it('runs in the given cwd, with stdin /dev/null when there is no input', async () => {
    const r = await runProcess({ file: '/bin/sh', args: ['-c', 'pwd; cat'], cwd: '/tmp', timeoutMs: 10_000 });
    expect([r.code, r.stdout.toString()]).toEqual([0, '/tmp\n']);
  });

  it('rejects with the errno code when the file cannot run', async () => {
    const err = await runProcess({ file: '/nonexistent/tool', timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnError);
    expect((err as SpawnError).code).toBe('ENOENT');
    const notInPath = await runProcess({ file: 'berth-no-such-tool', env: { PATH: '/usr/bin:/bin' }, timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect((notInPath as SpawnError).code).toBe('ENOENT');
    const plain = path.join(tmpdir(), `berth-spawner-plain-${process.pid}`);
    writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
    try {
      const notExecutable = await runProcess({ file: plain, timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect((notExecutable as SpawnError).code).toBe('EACCES');
    } finally {
      rmSync(plain, { force: true });
    }
  });

  it('finds a bare name in the child PATH, resets ignored signals and reports a signal death', async () => {
    const r = await runProcess({ file: 'sh', args: ['-c', 'grep SigIgn /proc/self/status; kill -TERM $$'], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 10_000 });
    expect([r.code, r.signal]).toEqual([null, 'SIGTERM']);
    // Node ignores SIGPIPE and SIGXFSZ; a helper must start with none of 1-31 ignored (libuv
    // resets them too). glibc's posix_spawn leaves its own 32 and 33 ignored: every glibc program
    // installs its handlers for them at start, and Go does not use them.
    const ignored = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)\n$/.exec(r.stdout.toString())?.[1] ?? 'ff'}`);
    expect(ignored & 0x7fffffffn).toBe(0n);
  });

  it('gives a detached child its own session', async () => {
    const r = await runProcess({ file: '/bin/sh', args: ['-c', 'cut -d" " -f6 /proc/self/stat; echo $$'], detached: true, timeoutMs: 10_000 });
    const [session, pid] = r.stdout.toString().trim().split('\n');
    expect(session).toBe(pid);
  });

  it('kills a detached child and its process group at the timeout and settles at once', async () => {
    const marker = `/tmp/berth-spawner-${process.pid}-${Date.now()}`;
    const t0 = Date.now();
    const r = await runProcess({
      file: '/bin/sh', args: ['-c', `(sleep 2; touch ${marker}) & sleep 30`], detached: true, timeoutMs: 300,
    });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await new Promise((res) => setTimeout(res, 2_500));
    expect(existsSync(marker)).toBe(false); // the background child went with the group
  });

  it('starts through spawnHelper: a PosixChild, or Node\'s ChildProcess once posix_spawn is unusable', async () => {
    const child = spawnHelper('/bin/sh', ['-c', 'exit 6'], { stdio: 'ignore' });
    expect(child instanceof PosixChild).toBe(mode === 'posix_spawn');
    const [code] = await once(child, 'close');
    expect(code).toBe(6);
  });

  it('runs calls side by side', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      runProcess({ file: '/bin/sh', args: ['-c', `echo ${i}`], timeoutMs: 10_000 })));
    expect(rs.map((r) => r.stdout.toString().trim())).toEqual(['0', '1', '2', '3', '4', '5']);
  });
});
