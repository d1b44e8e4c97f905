// One CRI daemon under test (containerd or berth): its process, its socket, a CRI client on it,
// and what the figures need from it: kill -9 and restart, the shims it started, and a full
// teardown. containerd.ts and berth.ts fill in the argv and config; the rest is shared.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { UnavailableError } from '../common/index.js';
import { createCriClients, type CriClients } from '../proto/cri.js';
import { killPids, runCmd, shimPidsForAddress, sleep, waitFor } from './proc.js';

export type RuntimeName = 'berth' | 'containerd';

export interface DaemonSpec {
  name: RuntimeName;
  /** Temp dir holding root, state, sockets and config; removed by cleanup(). */
  dir: string;
  socket: string;
  /** Runtime handler name given to RunPodSandbox. */
  handler: string;
  /** runc --root of the runtime (so leftovers can be force-deleted). */
  runcRoot: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The daemon's stdout is appended to this file (else dropped). */
  stdoutFile?: string;
}

export class Daemon {
  readonly name: RuntimeName;
  readonly socket: string;
  readonly handler: string;
  private proc: ChildProcess | undefined;
  private log = '';
  private cri: CriClients | undefined;

  constructor(readonly spec: DaemonSpec) {
    this.name = spec.name;
    this.socket = spec.socket;
    this.handler = spec.handler;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The CRI clients on the socket (one channel, reused; recreated after a restart). */
  get client(): CriClients {
    this.cri ??= createCriClients(this.socket, { timeoutMs: 60_000 });
    return this.cri;
  }

  /** A fresh, separate channel (for concurrent-client figures); the caller closes it. */
  newClient(): CriClients {
    return createCriClients(this.socket, { timeoutMs: 60_000 });
  }

  /** Spawns the daemon and resolves once CRI Version answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.spawn();
    await this.waitServing(timeoutMs);
  }

  /** Spawns the daemon and returns at once (a figure then waits for it its own way). */
  spawn(): void {
    this.log = '';
    const out = this.spec.stdoutFile === undefined ? 'ignore' : openSync(this.spec.stdoutFile, 'a');
    const proc = spawn(this.spec.command, this.spec.args, { env: this.spec.env, stdio: ['ignore', out, 'pipe'], detached: true });
    if (typeof out === 'number') closeSync(out);
    proc.stderr?.on('data', (c: Buffer) => {
      this.log = (this.log + c.toString()).slice(-20_000);
    });
    proc.on('error', (err) => {
      this.log += `\nspawn error: ${err.message}`;
    });
    this.proc = proc;
  }

  /** Resolves once Version answers on the socket. */
  async waitServing(timeoutMs: number): Promise<void> {
    const proc = this.proc;
    await waitFor(`${this.name} to serve CRI on ${this.socket}`, async () => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
        throw new UnavailableError(`${this.name} exited (${proc?.exitCode ?? proc?.signalCode}): ${this.log.slice(-3000)}`);
      }
      if (!existsSync(this.socket)) return false;
      try {
        await this.client.runtime.Version({ version: 'v1' }, { timeoutMs: 2_000 });
        return true;
      } catch {
        this.resetClient();
        return false;
      }
    }, timeoutMs, 10);
  }

  /** kill -9 of the daemon only (shims keep running); waits until the process is gone. */
  kill9(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void> {
    return this.signal('SIGTERM', 10_000);
  }

  private async signal(sig: NodeJS.Signals, killAfterMs?: number): Promise<void> {
    this.closeClient();
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(sig);
    const t = killAfterMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    await gone;
    clearTimeout(t);
  }

  recentLog(): string {
    return this.log;
  }

  /** Long-lived shims this daemon started (found by their `-address` argument). */
  shimPids(): number[] {
    return shimPidsForAddress(this.socket);
  }

  /** Stops and removes every pod through the CRI (best effort, bounded). */
  async removeAllPods(): Promise<void> {
    const rt = this.client.runtime;
    const pods = await rt.ListPodSandbox({}, { timeoutMs: 30_000 });
    const queue = [...pods.items];
    const worker = async () => {
      for (let p = queue.shift(); p; p = queue.shift()) {
        await rt.StopPodSandbox({ podSandboxId: p.id }, { timeoutMs: 60_000 }).catch(() => undefined);
        await rt.RemovePodSandbox({ podSandboxId: p.id }, { timeoutMs: 60_000 }).catch(() => undefined);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  /** Everything gone: pods (if the daemon answers), daemon, stray shims and containers, mounts, dir. */
  async cleanup(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      await this.removeAllPods().catch(() => undefined);
    }
    await this.stop();
    killPids(this.shimPids());
    await sleep(200);
    const list = await runCmd('runc', ['--root', this.spec.runcRoot, 'list', '-q']).catch(() => undefined);
    for (const id of list?.stdout.split('\n').filter(Boolean) ?? []) {
      await runCmd('runc', ['--root', this.spec.runcRoot, 'delete', '--force', id]).catch(() => undefined);
    }
    await unmountUnder(this.spec.dir);
    await rm(this.spec.dir, { recursive: true, force: true });
  }

  /**
   * Drops the channel after a failed call: grpc-js backs off (1 s and more) before redialing a
   * socket that refused it, which would otherwise be measured as the daemon's restart time.
   */
  resetClient(): void {
    this.closeClient();
  }

  private closeClient(): void {
    this.cri?.close();
    this.cri = undefined;
  }
}

/** Lazily unmounts every mount point at or below `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mps = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const mp of mps) await runCmd('umount', ['-l', mp]).catch(() => undefined);
}
