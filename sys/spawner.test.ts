import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runProcess, SpawnError } from './spawner.js';

describe('runProcess (spawns from a worker thread)', () => {
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

  it('runs calls side by side', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      runProcess({ file: '/bin/sh', args: ['-c', `echo ${i}`], timeoutMs: 10_000 })));
    expect(rs.map((r) => r.stdout.toString().trim())).toEqual(['0', '1', '2', '3', '4', '5']);
  });
});
