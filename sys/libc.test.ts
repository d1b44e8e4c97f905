import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

  it('opens a pidfd, signals through it and collects the exit with waitid(P_PIDFD)', async () => {
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const pidfd = sys.pidfdOpen(child.pid as number);
    try {
      expect(sys.waitid(sys.P_PIDFD, pidfd, sys.WNOHANG | sys.WNOWAIT)).toBeNull();
      sys.pidfdSendSignal(pidfd, 15);
      // Peek without reaping (WNOWAIT) so libuv still gets its own child's exit event.
      let r: sys.WaitResult | null = null;
      while (!r) {
        r = sys.waitid(sys.P_PIDFD, pidfd, sys.WNOHANG | sys.WNOWAIT);
        if (!r) await new Promise((res) => setTimeout(res, 10));
      }
      expect(r).toEqual({ pid: child.pid, status: 128 + 15, signaled: true });
      const signal = await new Promise((res) => child.once('exit', (_c, s) => res(s)));
      expect(signal).toBe('SIGTERM');
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
});
