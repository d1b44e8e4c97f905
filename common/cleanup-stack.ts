// A stack of undo steps for multi-step operations (CRI-O's resource cleaner shape, containerd's
// rule that cleanup gets its own deadline): push right after each acquisition, unwind
// newest-first on failure. Unwinding never throws; every failed step is logged.
import type { Logger } from './log.js';

interface Step {
  description: string;
  run: () => unknown;
}

export class CleanupStack {
  #steps: Step[] = [];

  push(description: string, run: () => unknown): void {
    this.#steps.push({ description, run });
  }

  get size(): number {
    return this.#steps.length;
  }

  /** Forget every step (the operation succeeded and now owns what it acquired). */
  release(): void {
    this.#steps = [];
  }

  /** Runs every step newest-first. Each step gets `timeoutMs` (default 10 s) of its own. */
  async unwind(log?: Pick<Logger, 'warn'>, opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.run),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
            timer.unref();
          }),
        ]);
      } catch (err) {
        log?.warn({ err, step: step.description }, 'cleanup step failed');
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
  }
}
