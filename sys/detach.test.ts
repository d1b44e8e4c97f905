import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isKind } from '../common/index.js';
import { bundleEntry } from '../test/helpers/bundle.js';
import { listenOnInheritedFd } from './index.js';

const pids: number[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ask(sock: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    c.on('data', (d) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', () => resolve(out.trim()));
  });
}

/** Runs the parent fixture in its own process group; resolves with (parent pid, child pid). */
async function runParent(sock: string, mode: 'exit' | 'stay'): Promise<{ parent: number; child: number; exited: Promise<void> }> {
  const [parentJs, childJs] = await Promise.all([bundleEntry('sys/testdata/detach-parent.ts'), bundleEntry('sys/testdata/detach-child.ts')]);
  const p = spawn(process.execPath, [parentJs, sock, childJs, mode], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  pids.push(p.pid as number);
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const child = await new Promise<number>((resolve, reject) => {
    let out = '';
    p.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    p.once('exit', () => reject(new Error(`parent exited before printing: ${out}`)));
  });
  pids.push(child);
  return { parent: p.pid as number, child, exited };
}

describe('detach', () => {
  it('the child keeps serving the handed-over listener after the parent exits', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-detach-'));
    dirs.push(dir);
    const sock = path.join(dir, 's.sock');
    const { child, exited } = await runParent(sock, 'exit');
    await exited;
    expect(await ask(sock)).toBe(`pong ${child}`);
    expect(await ask(sock)).toBe(`pong ${child}`);
  });

  it('the child survives SIGKILL of the parent process group', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-detach-'));
    dirs.push(dir);
    const sock = path.join(dir, 's.sock');
    const { parent, child, exited } = await runParent(sock, 'stay');
    process.kill(-parent, 'SIGKILL');
    await exited;
    expect(alive(child)).toBe(true);
    expect(await ask(sock)).toBe(`pong ${child}`);
    // own session: its pgid and sid are its own pid
    const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(fields[2])).toBe(child); // pgrp
    expect(Number(fields[3])).toBe(child); // session
  });

  it('listenOnInheritedFd rejects an fd that is not a listening socket with invalid-argument', async () => {
    const e = await listenOnInheritedFd(987).catch((err: unknown) => err);
    expect(isKind(e, 'invalid-argument')).toBe(true);
  });
});
