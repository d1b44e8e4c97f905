// The OCI runtime driver: runc (or crun, same CLI) invoked per operation with the runc shim's
// flags. Every invocation has a deadline; failures carry runc's own message (stderr, else the
// last error line of its JSON log).
import type { StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BerthError, DeadlineExceededError, NotFoundError, type Logger } from '../common/index.js';
import type { SpawnedChild } from '../sys/index.js';

export interface RuncOptions {
  binary: string;
  /** State root: `<Options.root or /run/containerd/runc>/<namespace>`. */
  root: string;
  systemdCgroup?: boolean;
  noPivotRoot?: boolean;
  noNewKeyring?: boolean;
  /** runc's --log file (`<bundle>/log.json`). */
  logPath?: string;
}

export type Spawner = (command: string, args: readonly string[], options: { stdio: StdioOptions }) => SpawnedChild;

export interface RunOptions {
  stdio?: [StdioEntry, StdioEntry, StdioEntry];
  input?: string;
  timeoutMs?: number;
}
type StdioEntry = 'ignore' | 'pipe' | number;

const DEFAULT_TIMEOUT_MS = 30_000;
const DRAIN_MS = 1_000;
/** runc state root base when Options.root is empty (the namespace is appended). */
export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

export class Runc {
  constructor(
    readonly opts: RuncOptions,
    private readonly spawn: Spawner,
    private readonly log: Logger,
  ) {}

  private globalArgs(): string[] {
    const a = ['--root', this.opts.root];
    if (this.opts.logPath) a.push('--log', this.opts.logPath, '--log-format', 'json');
    if (this.opts.systemdCgroup) a.push('--systemd-cgroup');
    return a;
  }

  create(id: string, bundle: string, pidFile: string, consoleSocket: string | undefined, stdio: RunOptions['stdio']): Promise<string> {
    const args = ['create', '--bundle', bundle, '--pid-file', pidFile];
    if (consoleSocket) args.push('--console-socket', consoleSocket);
    if (this.opts.noPivotRoot) args.push('--no-pivot');
    if (this.opts.noNewKeyring) args.push('--no-new-keyring');
    return this.run([...args, id], { stdio });
  }

  exec(id: string, processJson: string, pidFile: string, consoleSocket: string | undefined, stdio: RunOptions['stdio']): Promise<string> {
    const args = ['exec', '--detach', '--process', processJson, '--pid-file', pidFile];
    if (consoleSocket) args.push('--console-socket', consoleSocket);
    return this.run([...args, id], { stdio });
  }

  start(id: string): Promise<string> {
    return this.run(['start', id]);
  }

  kill(id: string, signal: number, all: boolean): Promise<string> {
    return this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  delete(id: string, force: boolean): Promise<string> {
    return this.run(['delete', ...(force ? ['--force'] : []), id]);
  }

  pause(id: string): Promise<string> {
    return this.run(['pause', id]);
  }

  resume(id: string): Promise<string> {
    return this.run(['resume', id]);
  }

  /** `runc update --resources -` with the OCI LinuxResources JSON on stdin. */
  update(id: string, resourcesJson: string): Promise<string> {
    return this.run(['update', '--resources', '-', id], { input: resourcesJson });
  }

  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const pids: unknown = JSON.parse(out.trim() || '[]');
    return Array.isArray(pids) ? pids.filter((p): p is number => typeof p === 'number') : [];
  }

  async state(id: string): Promise<{ status: string; pid: number; bundle: string }> {
    return JSON.parse(await this.run(['state', id])) as { status: string; pid: number; bundle: string };
  }

  run(args: string[], opts: RunOptions = {}): Promise<string> {
    const argv = [...this.globalArgs(), ...args];
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const stdio: StdioOptions = opts.stdio ?? [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    return new Promise((resolve, reject) => {
      let child: SpawnedChild;
      try {
        child = this.spawn(this.opts.binary, argv, { stdio });
      } catch (err) {
        reject(new BerthError('unknown', `${this.opts.binary}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      child.stdout?.on('data', (d: Buffer) => out.push(d));
      child.stderr?.on('data', (d: Buffer) => errOut.push(d));
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new DeadlineExceededError(`${this.opts.binary} ${args[0]}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new BerthError('unknown', `${this.opts.binary} ${args[0]}: ${err.message}`, { cause: err }));
      });
      // runc's output may still be in its pipes when 'exit' fires ('ps'/'state' JSON cut short);
      // 'close' says they are drained. A process that inherited a pipe could hold it open, so
      // after 'exit' the output is judged at 'close' or after DRAIN_MS, whichever comes first.
      let judged = false;
      const judge = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (judged) return;
        judged = true;
        clearTimeout(timer);
        const stdout = Buffer.concat(out).toString();
        if (code === 0) {
          resolve(stdout);
          return;
        }
        const detail = Buffer.concat(errOut).toString().trim() || this.lastLogError() || `exit ${code ?? signal}`;
        this.log.debug({ args, detail }, 'runc failed');
        reject(runcError(`${this.opts.binary} ${args[0]} failed: ${withoutOwnPrefix(detail, args[0] ?? '')}`));
      };
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const drain = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          judge(code, signal);
        }, DRAIN_MS);
        drain.unref();
        child.once('close', () => {
          clearTimeout(drain);
          judge(code, signal);
        });
      });
    });
  }

  private lastLogError(): string | undefined {
    if (!this.opts.logPath) return undefined;
    try {
      const lines = readFileSync(this.opts.logPath, 'utf8').trim().split('\n').reverse();
      for (const line of lines) {
        const rec = JSON.parse(line) as { level?: string; msg?: string };
        if (rec.level === 'error' && rec.msg) return rec.msg;
      }
    } catch {
      // no log, or a torn line
    }
    return undefined;
  }
}

/** runc (1.1) starts its own error with "runc <verb> failed: ": said once is enough. */
function withoutOwnPrefix(detail: string, verb: string): string {
  const prefix = `${verb} failed: `;
  const at = detail.indexOf(prefix);
  return at >= 0 && /^[\w./-]+ $/.test(detail.slice(0, at)) ? detail.slice(at + prefix.length) : detail;
}

// Only runc's "container does not exist" is a NOT_FOUND; everything else (an executable missing
// inside the container included) is UNKNOWN, as the runc shim answers it.
function runcError(message: string): BerthError {
  if (/container does not exist|container .* does not exist/i.test(message)) return new NotFoundError(message);
  return new BerthError('unknown', message);
}
