// "Tell me when this container's (or sandbox's) exit has been recorded in the CRI store": what
// StopContainer and StopPodSandbox wait on, resolved by the exit handler after the store update,
// so a status read after Stop returns already shows EXITED / NOTREADY.
export class StopWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Resolves when `notify(id)` runs, or with false after `timeoutMs`. `isStopped` is checked first. */
  wait(id: string, isStopped: () => boolean, timeoutMs: number): Promise<boolean> {
    if (isStopped()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let set = this.#waiting.get(id);
      if (!set) this.#waiting.set(id, (set = new Set()));
      const done = (ok: boolean) => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.#waiting.get(id) === set) this.#waiting.delete(id);
        resolve(ok);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(isStopped()), timeoutMs);
      set.add(wake);
      if (isStopped()) done(true); // recorded between the first check and registering
    });
  }

  notify(id: string): void {
    for (const wake of [...(this.#waiting.get(id) ?? [])]) wake();
  }
}
