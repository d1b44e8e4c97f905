import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRuntime, shimBinaryName } from './runtime-resolve.js';

describe('runtime resolution', () => {
  let dir: string;
  let pathDir: string;
  let daemonDir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-rt-'));
    pathDir = path.join(dir, 'bin');
    daemonDir = path.join(dir, 'daemon');
    for (const [d, name] of [[pathDir, 'containerd-shim-both-v2'], [daemonDir, 'containerd-shim-both-v2'], [daemonDir, 'containerd-shim-berth-v2']] as const) {
      await mkdir(d, { recursive: true });
      await writeFile(path.join(d, name), '#!/bin/sh\n');
      await chmod(path.join(d, name), 0o755);
    }
    await writeFile(path.join(pathDir, 'containerd-shim-noexec-v2'), '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('uses the last two dot parts of the name', () => {
    expect(shimBinaryName('io.containerd.runc.v2')).toBe('containerd-shim-runc-v2');
    expect(shimBinaryName('io.containerd.berth.v2')).toBe('containerd-shim-berth-v2');
    expect(shimBinaryName('runc.v2')).toBe('containerd-shim-runc-v2');
    expect(() => shimBinaryName('runc')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => shimBinaryName('a..b')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });

  it('searches PATH first, then the daemon dir; honours configured and absolute paths', () => {
    const opts = { searchPath: pathDir, daemonDir };
    expect(resolveRuntime('io.containerd.both.v2', opts)).toBe(path.join(pathDir, 'containerd-shim-both-v2'));
    expect(resolveRuntime('io.containerd.berth.v2', opts)).toBe(path.join(daemonDir, 'containerd-shim-berth-v2'));
    const configured = path.join(daemonDir, 'containerd-shim-both-v2');
    expect(resolveRuntime('io.containerd.both.v2', { ...opts, runtimePaths: { 'io.containerd.both.v2': configured } })).toBe(configured);
    expect(resolveRuntime(configured, opts)).toBe(configured);
    expect(resolveRuntime('io.containerd.runc.v2')).toBe('/usr/bin/containerd-shim-runc-v2');
  });

  it('fails with typed errors for unknown, missing or non-executable shims', () => {
    const opts = { searchPath: pathDir, daemonDir };
    expect(() => resolveRuntime('io.containerd.nope.v9', opts)).toThrow(expect.objectContaining({ kind: 'not-found', message: expect.stringContaining('containerd-shim-nope-v9') }));
    expect(() => resolveRuntime('io.containerd.noexec.v2', opts)).toThrow(expect.objectContaining({ kind: 'not-found' }));
    expect(() => resolveRuntime('/no/such/shim', opts)).toThrow(expect.objectContaining({ kind: 'not-found' }));
    expect(() => resolveRuntime('', opts)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => resolveRuntime('x', { ...opts, runtimePaths: { x: 'relative/shim' } })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});
