// One container in the shim: its init process, its exec processes, its runc driver and what
// Create acquired (rootfs mount). Guarded by the service's per-container lock.
import { NotFoundError } from '../common/index.js';
import type { ProcessState, Exited } from './process-state.js';
import type { Runc } from './runc.js';
import type { ProcessIO, StdioPaths } from './stdio.js';

export class Proc {
  state: ProcessState;
  io: ProcessIO | undefined;
  /** Resolves with the exit once it has been recorded (and published). */
  readonly exited: Promise<Exited>;
  private settle!: (e: Exited) => void;

  constructor(
    /** Container id for the init process, exec id for an exec. */
    readonly id: string,
    /** "" for the init process. */
    readonly execId: string,
    readonly stdio: StdioPaths,
    pid: number,
  ) {
    this.state = { kind: 'created', pid };
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  get pid(): number {
    return this.state.pid;
  }

  markExited(exit: Exited): void {
    this.settle(exit);
  }
}

export class Container {
  /** Exec processes by exec id, each with the OCI Process JSON given to Exec. */
  readonly execs = new Map<string, Proc & { spec: unknown }>();
  /** Set while Delete kills a never-started init: its exit is not published. */
  deleting = false;

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly runc: Runc,
    readonly init: Proc,
    /** False when the spec joins an existing pid namespace (or the host's). */
    readonly ownPidNamespace: boolean,
    readonly rootfsMounted: boolean,
  ) {}

  process(execId: string): Proc {
    if (execId === '') return this.init;
    const p = this.execs.get(execId);
    if (!p) throw new NotFoundError(`process does not exist ${execId}: not found`);
    return p;
  }
}

/** Whether an OCI spec gives the container its own pid namespace (a `pid` entry with no path). */
export function hasOwnPidNamespace(spec: unknown): boolean {
  const nss = (spec as { linux?: { namespaces?: { type?: string; path?: string }[] } } | null)?.linux?.namespaces;
  return Array.isArray(nss) && nss.some((n) => n.type === 'pid' && !n.path);
}
