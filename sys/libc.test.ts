import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isKind } from '../common/index.js';
import * as sys from './index.js';

const require = createRequire(import.meta.url);
const koffiLoaded = (): boolean => Object.keys(require.cache).some((k) => k.includes('/node_modules/koffi/'));

describe('libc', () => {
  it('does not load koffi until the first call', () => {
    expect(koffiLoaded()).toBe(false);
    sys.isChildSubreaper();
    expect(koffiLoaded()).toBe(true);
  });

  it('signals a libuv child through a pidfd; its exit event still arrives', async () => {
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const pidfd = sys.pidfdOpen(child.pid as number);
    try {
      expect(sys.waitid(sys.P_PIDFD, pidfd, sys.WNOHANG | sys.WNOWAIT)).toBeNull(); // alive: no exit yet
      const signal = new Promise((res) => child.once('exit', (_c, s) => res(s)));
      sys.pidfdSendSignal(pidfd, 15);
      expect(await signal).toBe('SIGTERM');
    } finally {
      sys.closeFd(pidfd);
    }
  });

  it('collects a re-parented grandchild with waitid(P_PIDFD)', async () => {
    sys.setChildSubreaper(true);
    const sh = spawn('/bin/sh', ['-c', '(exec sleep 30) >/dev/null 2>&1 </dev/null & echo $!'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => sh.once('close', r));
    const pid = Number(out.trim());
    const pidfd = sys.pidfdOpen(pid);
    try {
      sys.pidfdSendSignal(pidfd, 9);
      let r: sys.WaitResult | null = null;
      for (let i = 0; !r && i < 500; i++) {
        r = sys.waitid(sys.P_PIDFD, pidfd, sys.WNOHANG);
        if (!r) await new Promise((res) => setTimeout(res, 10));
      }
      expect(r).toEqual({ pid, status: 137, signaled: true });
    } finally {
      sys.closeFd(pidfd);
    }
  });

  it('throws SyscallError with errno name and a matching kind', () => {
    let err: unknown;
    try {
      sys.kill(2 ** 22 + 12345, 0); // above pid_max: no such process
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(sys.SyscallError);
    expect((err as sys.SyscallError).errnoName).toBe('ESRCH');
    expect(isKind(err, 'not-found')).toBe(true);
    expect(() => sys.closeFd(-1)).toThrow(expect.objectContaining({ errnoName: 'EBADF', kind: 'invalid-argument' }));
    expect(() => sys.waitid(sys.P_PID, 1, sys.WNOHANG)).toThrow(expect.objectContaining({ errnoName: 'ECHILD' }));
  });

  it('counts eventfd writes and reads 0 when empty (non-blocking)', () => {
    const efd = sys.eventfd(0, sys.EFD_CLOEXEC | sys.EFD_NONBLOCK);
    try {
      expect(sys.readEventfd(efd)).toBe(0n);
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(2n);
      sys.writeFd(efd, one);
      sys.writeFd(efd, one);
      expect(sys.readEventfd(efd)).toBe(4n);
      expect(sys.readEventfd(efd)).toBe(0n);
    } finally {
      sys.closeFd(efd);
    }
  });

  it('dups with close-on-exec, sharing the same open file', () => {
    const efd = sys.eventfd(0, sys.EFD_NONBLOCK);
    const dup = sys.dupCloexec(efd);
    try {
      expect(dup).not.toBe(efd);
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(3n);
      sys.writeFd(efd, one);
      expect(sys.readEventfd(dup)).toBe(3n);
      const flags = (fd: number): number => parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
      expect(flags(dup) & 0o2000000).not.toBe(0);
      expect(flags(efd) & 0o2000000).toBe(0);
    } finally {
      sys.closeFd(dup);
      sys.closeFd(efd);
    }
  });

  it('makes close-on-exec pipes by default, and plain ones on request', () => {
    const flags = (fd: number): number => parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
    const [r, w] = sys.pipe2();
    const [r2, w2] = sys.pipe2(0);
    try {
      expect(flags(r) & sys.O_CLOEXEC).not.toBe(0);
      expect(flags(w) & sys.O_CLOEXEC).not.toBe(0);
      expect(flags(r2) & sys.O_CLOEXEC).toBe(0);
      const hi = Buffer.from('hi');
      expect(sys.writeFd(w, hi)).toBe(2);
      sys.closeFd(w);
      const got = Buffer.alloc(4);
      expect(readSync(r, got)).toBe(2);
      expect(got.subarray(0, 2).toString()).toBe('hi');
      expect(readSync(r, got)).toBe(0); // the write end closed: EOF
    } finally {
      for (const fd of [r, r2, w2]) sys.closeFd(fd);
    }
    expect(() => sys.pipe2(-1)).toThrow(expect.objectContaining({ name: 'SyscallError', errnoName: 'EINVAL', kind: 'invalid-argument' }));
  });
});
