// Test helper: a busybox-static OCI bundle and a runc with its own state root, all in one temp dir.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ExitInfo, type Reaper } from '../index.js';

const APPLETS = ['sh', 'echo', 'stty', 'sleep', 'head', 'tr', 'dd', 'cat', 'true'];

export interface BundleOptions {
  args: string[];
  terminal?: boolean;
  memoryLimit?: number;
  /** Reaps the container's init (the test process is a subreaper, so it is our child). */
  reaper: Reaper;
}

export class TestContainer {
  readonly id: string;
  readonly dir: string;
  readonly bundle: string;
  readonly root: string;
  readonly cgroupsPath: string;
  private readonly reaper: Reaper;
  /** The init's exit, once create() has run. */
  exited: Promise<ExitInfo> | undefined;

  constructor(opts: BundleOptions) {
    this.reaper = opts.reaper;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sys-runc-'));
    this.id = `berth-sys-${path.basename(this.dir).slice(-6).toLowerCase()}-${process.pid}`;
    this.cgroupsPath = `/${this.id}`;
    this.bundle = path.join(this.dir, 'bundle');
    this.root = path.join(this.dir, 'runc-root');
    const rootfs = path.join(this.bundle, 'rootfs');
    for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(path.join(rootfs, d), { recursive: true });
    mkdirSync(this.root);
    copyFileSync('/usr/bin/busybox', path.join(rootfs, 'bin/busybox'));
    for (const a of APPLETS) symlinkSync('busybox', path.join(rootfs, 'bin', a));
    const spec = {
      ociVersion: '1.0.2',
      process: {
        terminal: opts.terminal ?? false,
        user: { uid: 0, gid: 0 },
        args: opts.args,
        env: ['PATH=/bin', 'TERM=xterm'],
        cwd: '/',
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: false },
      hostname: 'berth-sys',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      ],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
        cgroupsPath: this.cgroupsPath,
        resources: opts.memoryLimit ? { memory: { limit: opts.memoryLimit, swap: opts.memoryLimit } } : {},
      },
    };
    writeFileSync(path.join(this.bundle, 'config.json'), JSON.stringify(spec));
  }

  /**
   * Runs runc with its output in a file, never a pipe: without a terminal runc hands its stdio to
   * the container, so a pipe would stay open until the container exits (docs/sys.md "Tests").
   */
  async runc(...args: string[]): Promise<string> {
    const log = path.join(this.dir, 'runc.out');
    const fd = openSync(log, 'w');
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        const p = spawn('runc', ['--root', this.root, ...args], { stdio: ['ignore', fd, fd] });
        const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
        p.once('error', reject);
        p.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      const out = readFileSync(log, 'utf8');
      if (code !== 0) throw new Error(`runc ${args.join(' ')}: exit ${code}: ${out}`);
      return out;
    } finally {
      closeSync(fd);
    }
  }

  /** `runc create`; returns the init pid from the pid file. */
  async create(consoleSocket?: string): Promise<number> {
    const pidFile = path.join(this.dir, 'init.pid');
    const extra = consoleSocket ? ['--console-socket', consoleSocket] : [];
    const expectation = this.reaper.expect();
    try {
      await this.runc('create', '--bundle', this.bundle, '--pid-file', pidFile, ...extra, this.id);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      this.exited = this.reaper.watch(pid);
      return pid;
    } finally {
      expectation.close();
    }
  }

  /** Deletes the container (force) and the temp dir; safe to call twice. */
  async destroy(): Promise<void> {
    await this.runc('delete', '--force', this.id).catch(() => undefined);
    await this.exited?.catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
