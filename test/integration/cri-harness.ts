// A real berth daemon for the CRI integration tests: cli/berth.ts bundled with esbuild, run as its
// own process on a temp root/state/socket, driven with the typed gRPC client. `stop()` removes
// every pod through the CRI, stops the daemon, then kills whatever is left (shims with this
// socket in their argv and their children), unmounts everything under the temp dir and deletes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { bundleEntry } from '../helpers/bundle.js';
import { createCriClients, type CriClients } from '../../proto/cri.js';
import { unmountAll } from '../../sys/index.js';
import { makeTestNetwork, type TestNetwork } from './cri-network-env.js';

export interface Berth {
  readonly dir: string;
  readonly address: string;
  readonly logDir: string;
  /** The daemon's pod network (its conf dir, bridge, subnet; leftovers(b.net.env) counts). */
  readonly net: TestNetwork;
  cri: CriClients;
  /** Starts (again) the daemon on the same root/state/socket; `env` is added to this run's environment. */
  start(opts?: { env?: Record<string, string> }): Promise<void>;
  /** Sends `signal` and waits for the daemon to exit (pods keep running). */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Resolves true once the daemon process has exited (false if it still runs after `withinMs`). */
  exited(withinMs: number): Promise<boolean>;
  daemonLog(): string;
  stop(): Promise<void>;
}

/** Shims (or, with `spares`, berth's spare shim servers not adopted yet) started for `address`. */
function shimPids(address: string, spares = false): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      // a spare not adopted yet (argv `spare`, shim/spare.ts) serves no pod
      if (argv.some((a) => a === address) && argv.some((a) => a.includes('containerd-shim')) && argv.includes('spare') === spares) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: string[] = [];
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) kids = kids.concat(readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    } catch {
      return;
    }
    for (const k of kids) {
      out.push(Number(k));
      walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

/** Pids of the shims serving this daemon. */
export const shimsOf = (b: Pick<Berth, 'address'>): number[] => shimPids(b.address);
/** Pids of berth's spare shim servers (shim/spare.ts) waiting for this daemon's next pod. */
export const sparesOf = (b: Pick<Berth, 'address'>): number[] => shimPids(b.address, true);

export const SANDBOX_IMAGE_UNREACHABLE = '127.0.0.1:1/pause:3.9';

/**
 * The CRI runtime handlers the suites run against: `runc` (the real containerd-shim-runc-v2) and
 * `berth` (berth's own shim through the wrapper test/global-setup.ts puts in BERTH_SHIM_PATH;
 * skipped when that is unset).
 */
export type CriHandler = 'runc' | 'berth';
export const CRI_HANDLERS: CriHandler[] = process.env.BERTH_SHIM_PATH ? ['runc', 'berth'] : ['runc'];

/** The shim binary name each handler's processes carry in argv. */
export const SHIM_BINARY: Record<CriHandler, string> = { runc: 'containerd-shim-runc-v2', berth: 'containerd-shim-berth-v2' };

export interface BerthOptions {
  sandboxImage?: string;
  maxLineSize?: number;
  /** The daemon's default runtime handler (default `runc`), used by every pod the test runs. */
  handler?: CriHandler;
  /** false: the CNI conf dir stays empty (NetworkReady false; only host-network pods run). */
  cniConfig?: boolean;
  /** TOML lines appended to the daemon's config (e.g. one more runtime handler). */
  extraConfig?: string[];
  /** TOML key lines at the top of the daemon's config, before any table (top-level CRI keys, e.g. `drop_infra_container = false`). */
  topConfig?: string[];
}

export async function startBerth(opts: BerthOptions = {}): Promise<Berth> {
  const entry = await bundleEntry('cli/berth.ts');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-cri-'));
  const address = path.join(dir, 'berth.sock');
  const logDir = path.join(dir, 'pod-logs');
  const config = path.join(dir, 'config.toml');
  const net = await makeTestNetwork(path.join(dir, 'state'), { withConfig: opts.cniConfig });
  await writeFile(config, [
    ...(opts.topConfig ?? []),
    `sandbox_image = "${opts.sandboxImage ?? SANDBOX_IMAGE_UNREACHABLE}"`,
    `max_container_log_line_size = ${opts.maxLineSize ?? 16384}`,
    ...net.configLines,
    '[containerd]', `default_runtime_name = "${opts.handler ?? 'runc'}"`,
    '[containerd.runtimes.berth]', 'runtime_type = "io.containerd.berth.v2"',
    `runtime_path = ${JSON.stringify(process.env.BERTH_SHIM_PATH ?? '')}`, '',
    ...(opts.extraConfig ?? []), '',
  ].join('\n'));
  let child: ChildProcess | undefined;
  let logFd = -1;
  let exited: Promise<void> = Promise.resolve();
  const b: Berth = {
    dir, address, logDir, net,
    cri: undefined as unknown as CriClients,
    async start(startOpts = {}) {
      logFd = openSync(path.join(dir, 'daemon.log'), 'a');
      child = spawn(process.execPath, [entry, '--config', config, '--address', address, '--root', path.join(dir, 'root'),
        '--state', path.join(dir, 'state'), '--log-level', 'debug'], { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...startOpts.env } });
      const c = child;
      exited = new Promise<void>((r) => c.once('exit', () => r()));
      closeSync(logFd);
      const deadline = Date.now() + 30_000;
      b.cri?.close();
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`berth exited with ${c.exitCode ?? c.signalCode}:\n${b.daemonLog()}`);
        if (existsSync(address)) {
          const cri = createCriClients(address, { timeoutMs: 60_000 });
          try {
            await cri.runtime.Version({}, { timeoutMs: 2_000 });
            b.cri = cri;
            return;
          } catch {
            cri.close();
          }
        }
        if (Date.now() > deadline) throw new Error(`berth did not serve ${address}:\n${b.daemonLog()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill(signal) {
      b.cri?.close();
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
    },
    async exited(withinMs) {
      if (!child || child.exitCode !== null || child.signalCode !== null) return true;
      let timer: NodeJS.Timeout | undefined;
      const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), withinMs); })]);
      clearTimeout(timer);
      return gone;
    },
    daemonLog: () => (existsSync(path.join(dir, 'daemon.log')) ? readFileSync(path.join(dir, 'daemon.log'), 'utf8') : ''),
    async stop() {
      try {
        if (child && child.exitCode === null && child.signalCode === null) {
          const pods = await b.cri.runtime.ListPodSandbox({}, { timeoutMs: 10_000 }).catch(() => ({ items: [] }));
          for (const p of pods.items) {
            await b.cri.runtime.StopPodSandbox({ podSandboxId: p.id }, { timeoutMs: 30_000 }).catch(() => undefined);
            await b.cri.runtime.RemovePodSandbox({ podSandboxId: p.id }, { timeoutMs: 30_000 }).catch(() => undefined);
          }
        }
      } finally {
        await b.kill('SIGKILL');
        for (const shim of shimPids(address)) {
          for (const p of [...descendants(shim), shim]) {
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              // gone
            }
          }
        }
        await new Promise((r) => setTimeout(r, 200));
        await net.cleanup().catch((err: unknown) => console.error('pod network cleanup failed', err));
        // BERTH_TEST_DAEMON_LOG=<file>: keep the daemon's log for debugging.
        if (process.env.BERTH_TEST_DAEMON_LOG) appendFileSync(process.env.BERTH_TEST_DAEMON_LOG, b.daemonLog());
        unmountAll(dir);
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await b.start();
  } catch (err) {
    await b.stop().catch(() => undefined); // the temp dir, the test network and its subnet claim go too
    throw err;
  }
  return b;
}

/** A pod config with a unique name and a log directory under the daemon's temp dir. */
export function podConfig(b: Berth, name: string, extra: Record<string, unknown> = {}) {
  const uid = `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    metadata: { name, namespace: 'berth-test', uid, attempt: 0 },
    logDirectory: path.join(b.logDir, uid), hostname: name, labels: { app: name }, ...extra,
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const LOCAL_BUSYBOX = 'berth.local/busybox:latest';

/**
 * Starts one daemon for the calling test file (beforeAll), with the local busybox image pulled,
 * and stops it with everything it made (afterAll). Read the daemon through the returned getter.
 */
export function useBerth(opts: BerthOptions = {}): () => Berth {
  let b: Berth | undefined;
  beforeAll(async () => {
    b = await startBerth(opts);
    await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
  }, 120_000);
  return () => {
    if (!b) throw new Error('berth is not started');
    return b;
  };
}
