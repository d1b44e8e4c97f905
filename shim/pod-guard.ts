// The pod's containers die with the shim (the kata shim model): a SIGKILLed shim runs no code,
// so a tiny sentinel child (`sh`) holds a pipe from the shim. The pipe reaches EOF only when the
// shim is gone; the sentinel then kills every container listed in a file the shim keeps current
// (`runc --root <root> kill --all <id> KILL`). On an orderly shutdown the shim writes "exit" and
// the sentinel leaves without killing anything.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Logger } from '../common/index.js';
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
  private readonly stdin: Writable;
  private dismissed = false;

  constructor(
    private readonly listFile: string,
    reaper: Reaper,
    private readonly log: Logger,
  ) {
    const child = reaper.spawn('/bin/sh', ['-c', SCRIPT, 'berth-pod-guard', listFile], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true, // its own process group: whatever kills the shim's group must not reach it
      cwd: '/',
    });
    child.on('error', (err) => log.warn({ err }, 'pod guard failed to start'));
    child.unref();
    this.stdin = child.stdin as Writable;
    this.stdin.on('error', () => undefined);
    (this.stdin as unknown as { unref?: () => void }).unref?.();
  }

  update(containers: readonly Container[]): void {
    // A call that finishes while the shim shuts down must not write the list again: the
    // sentinel has already left and nobody would remove the file.
    if (this.dismissed) return;
    const lines = containers.map((c) => `${c.runc.opts.binary}\t${c.runc.opts.root}\t${c.id}\n`).join('');
    try {
      const tmp = `${this.listFile}.tmp`;
      writeFileSync(tmp, lines, { mode: 0o600 });
      renameSync(tmp, this.listFile);
    } catch (err) {
      this.log.warn({ err, file: this.listFile }, 'cannot update the pod guard list');
    }
  }

  /** Orderly shutdown: the sentinel exits without killing. */
  dismiss(): void {
    this.dismissed = true;
    this.stdin.end('exit\n');
    rmSync(this.listFile, { force: true });
  }
}
