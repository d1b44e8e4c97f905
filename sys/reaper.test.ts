import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { isKind } from '../common/index.js';
import { becomeSubreaper, closeFd, isChildSubreaper, pipe2, Reaper } from './index.js';

const leftovers: number[] = [];
let reaper: Reaper | undefined;

beforeAll(() => {
  becomeSubreaper();
});

afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  reaper?.sweep();
  reaper?.close();
  reaper = undefined;
});

/** Starts `script` as a grandchild through a double-forking sh; returns the grandchild's pid. */
function orphan(r: Reaper, script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sh = r.spawn('/bin/sh', ['-c', `(${script}) >/dev/null 2>&1 </dev/null & echo $!`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    sh.once('error', reject);
    sh.once('close', () => {
      const pid = Number(out.trim());
      leftovers.push(pid);
      resolve(pid);
    });
  });
}

function state(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 500) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('reaper', () => {
  it('is a child subreaper after becomeSubreaper()', () => {
    expect(isChildSubreaper()).toBe(true);
  });

  it('reaps a re-parented grandchild with its exit status, without stealing libuv children', async () => {
    reaper = new Reaper();
    const exp = reaper.expect();
    const pid = await orphan(reaper, 'sleep 0.3; exit 5');
    // Not tracked by the reaper on purpose: its exit event must still arrive from libuv.
    const libuvChild = spawn('/bin/sh', ['-c', 'sleep 0.2; exit 3'], { stdio: 'ignore' });
    const libuvExit = new Promise<number | null>((r) => libuvChild.once('exit', (code) => r(code)));
    const exit = await reaper.watch(pid);
    exp.close();
    reaper.sweep();
    expect(exit.pid).toBe(pid);
    expect(exit.status).toBe(5);
    expect(exit.exitedAt).toBeInstanceOf(Date);
    expect(await libuvExit).toBe(3);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('does not lose an exit that happened before watch()', async () => {
    reaper = new Reaper();
    const exp = reaper.expect();
    const pid = await orphan(reaper, 'sleep 0.2; exit 7'); // exit after re-parenting, not under sh
    await until(() => state(pid) === 'Z');
    reaper.sweep(); // the orphan sweep must leave it alone while an expectation is open
    reaper.sweep();
    expect(state(pid)).toBe('Z');
    const exit = await reaper.watch(pid);
    exp.close();
    expect(exit.status).toBe(7);
  });

  it('reports 128+9 for SIGKILL', async () => {
    reaper = new Reaper();
    const pid = await orphan(reaper, 'exec sleep 30');
    const exit = reaper.watch(pid);
    process.kill(pid, 'SIGKILL');
    expect((await exit).status).toBe(137);
  });

  it('watch() of the same pid twice returns the same exit', async () => {
    reaper = new Reaper();
    const pid = await orphan(reaper, 'exec sleep 30');
    const a = reaper.watch(pid);
    const b = reaper.watch(pid);
    process.kill(pid, 'SIGTERM');
    expect((await a).status).toBe(143);
    expect(await b).toEqual(await a);
  });

  it('reaps unwatched orphan zombies on the sweep and still answers a late watch()', async () => {
    reaper = new Reaper();
    const pid = await orphan(reaper, 'sleep 0.2; exit 9');
    await until(() => state(pid) === 'Z');
    reaper.sweep(); // first sighting: left for libuv
    expect(state(pid)).toBe('Z');
    reaper.sweep(); // second sighting: reaped
    expect(state(pid)).toBeUndefined();
    expect((await reaper.watch(pid)).status).toBe(9);
  });

  it('rejects a pid that is not our child with not-found, and a bad pid with invalid-argument', async () => {
    reaper = new Reaper();
    const e1 = await reaper.watch(1).catch((e: unknown) => e);
    expect(isKind(e1, 'not-found')).toBe(true);
    const e2 = await reaper.watch(-4).catch((e: unknown) => e);
    expect(isKind(e2, 'invalid-argument')).toBe(true);
  });
});

describe('Reaper.spawn with posix_spawn (PosixChild)', () => {
  const run = (child: ReturnType<Reaper['spawn']>): Promise<{ out: string; err: string; exit: [number | null, string | null]; close: [number | null, string | null] }> =>
    new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      let exit: [number | null, string | null] | undefined;
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (code: number | null, signal: string | null) => { exit = [code, signal]; });
      child.once('close', (code: number | null, signal: string | null) => resolve({ out, err, exit: exit ?? [-1, 'no exit before close'], close: [code, signal] }));
    });

  it('pipes stdin, stdout and stderr, finds a bare name in PATH, and reports code or signal at exit and close', async () => {
    reaper = new Reaper();
    const child = reaper.spawn('sh', ['-c', 'read x; echo "out $x"; echo err >&2; exit 7'], { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/' });
    expect(child.constructor.name).toBe('PosixChild');
    child.stdin?.end('hi\n');
    expect(await run(child)).toEqual({ out: 'out hi\n', err: 'err\n', exit: [7, null], close: [7, null] });
    const killed = reaper.spawn('/bin/sh', ['-c', 'sleep 30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    setTimeout(() => killed.kill('SIGKILL'), 50);
    const r = await run(killed);
    expect([r.exit, r.close]).toEqual([[null, 'SIGKILL'], [null, 'SIGKILL']]);
    expect(killed.kill('SIGKILL')).toBe(false); // reaped: its pid is not ours to signal any more
  });

  it('hands over an fd of ours as stdout, runs in cwd, and emits ENOENT as an error event', async () => {
    reaper = new Reaper();
    const [r, w] = pipe2();
    const child = reaper.spawn('/bin/sh', ['-c', 'pwd'], { stdio: ['ignore', w, 'ignore'], cwd: '/tmp' });
    const finished = run(child); // listening from the start: it may be reaped before the pipe's EOF is read
    closeFd(w);
    const got = await new Promise<string>((resolve) => {
      const sock = new net.Socket({ fd: r, readable: true, writable: false });
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString()));
      sock.once('close', () => resolve(text));
    });
    expect(got).toBe('/tmp\n');
    expect((await finished).close).toEqual([0, null]);
    const missing = reaper.spawn('/nonexistent/runc', ['state'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => missing.once('error', resolve));
    expect(err.code).toBe('ENOENT');
    expect(missing.pid).toBeUndefined();
  });
});
