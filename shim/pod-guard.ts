// The pod's containers die with the shim (the kata shim model): a SIGKILLed shim runs no code,
// so a tiny sentinel child (`sh`) holds a pipe from the shim. The pipe reaches EOF only when the
// shim is gone; the sentinel then kills every container listed in a file the shim keeps current
// (`runc --root <root> kill --all <id> KILL`). On an orderly shutdown the shim writes "exit" and
// the sentinel leaves without killing anything.
import { rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { writeFileAtomicSync, type Logger } from '../common/index.js';
import type { Reaper } from '../sys/index.js';
import type { Container } from './container.js';

// $1 = kill list: one "<runc binary>\t<runc root>\t<id>" line per container.
const SCRIPT = [
  'IFS= read -r cmd',
  '[ "$cmd" = exit ] && { rm -f "$1"; exit 0; }',
  '[ -f "$1" ] || exit 0',
  'tab=$(printf "\\t")',
  'while IFS="$tab" read -r bin root id; do "$bin" --root "$root" kill --all "$id" KILL >/dev/null 2>&1; done < "$1"',
  'rm -f "$1"',
].join('\n');

export class PodGuard {
  private stdin: Writable | undefined;
  private dismissed = false;

  // The sentinel starts with the first kill list, not here: a shim that finds its pod already
  // served (and exits) must never leave a sentinel that would act on the serving shim's list.
  constructor(
    private readonly listFile: string,
    private readonly reaper: Reaper,
    private readonly log: Logger,
  ) {}

  /** Whether the sentinel process has been started. */
  get started(): boolean {
    return this.stdin !== undefined;
  }

  private ensureSentinel(): void {
    if (this.stdin) return;
    const child = this.reaper.spawn('/bin/sh', ['-c', SCRIPT, 'berth-pod-guard', this.listFile], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true, // its own process group: whatever kills the shim's group must not reach it
      cwd: '/',
    });
    child.on('error', (err) => this.log.warn({ err }, 'pod guard failed to start'));
    child.unref();
    const stdin = child.stdin as Writable;
    stdin.on('error', () => undefined);
    (stdin as unknown as { unref?: () => void }).unref?.();
    this.stdin = stdin;
  }

  update(containers: readonly Container[]): void {
    // A call that finishes while the shim shuts down must not write the list again: the
    // sentinel has already left and nobody would remove the file.
    if (this.dismissed) return;
    this.ensureSentinel();
    const lines = containers.map((c) => `${c.runc.opts.binary}\t${c.runc.opts.root}\t${c.id}\n`).join('');
    try {
      writeFileAtomicSync(this.listFile, lines);
    } catch (err) {
      this.log.warn({ err, file: this.listFile }, 'cannot update the pod guard list');
    }
  }

  /** Orderly shutdown: the sentinel exits without killing. */
  dismiss(): void {
    this.dismissed = true;
    this.stdin?.end('exit\n');
    rmSync(this.listFile, { force: true });
  }
}
