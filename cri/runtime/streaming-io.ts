// Stream plumbing between a task's stdio FIFOs and a streaming session. The daemon holds every
// FIFO open read-write, so a FIFO never ends on its own: "output drained" means no bytes arrived
// for a short quiet time while the client was not holding us back.
import type { Readable, Writable } from 'node:stream';

const QUIET_MS = 50;
/** Longest wait for output after the process exited while bytes keep coming (a background child). */
const MAX_UNBLOCKED_DRAIN_MS = 2_000;

/**
 * Pipes one process output into a client channel with backpressure (never ends `to`; the server
 * ends and flushes it). Without a channel the output is read and dropped so the process never blocks.
 */
export class OutputPump {
  #lastData = Date.now();
  readonly #onData = () => { this.#lastData = Date.now(); };

  constructor(private readonly from: Readable | undefined, private readonly to: Writable | undefined) {
    if (!from) return;
    from.on('data', this.#onData);
    if (to) {
      to.on('error', () => undefined);
      from.pipe(to, { end: false });
    } else {
      from.resume();
    }
  }

  get #blocked(): boolean {
    return this.to !== undefined && !this.to.destroyed && this.to.writableNeedDrain;
  }

  /**
   * Resolves once no output arrived for a quiet time after this call (made at the exit), time the
   * client held us back not counted. Measured from the exit, not from the last byte before it: the
   * runc shim reports an exec's exit before its copy of the process's pipe into the FIFO is done.
   */
  async drain(signal: AbortSignal): Promise<void> {
    if (!this.from) return;
    const exitedAt = Date.now();
    // What the process wrote before it exited can be ready in the same poll as the exit that got
    // us here, and be read after it: let this loop iteration's reads run before judging quiet.
    await new Promise((r) => setImmediate(r));
    let unblocked = 0;
    while (!signal.aborted && !this.to?.destroyed) {
      const idle = Date.now() - Math.max(this.#lastData, exitedAt);
      if (!this.#blocked) {
        if (idle >= QUIET_MS || unblocked >= MAX_UNBLOCKED_DRAIN_MS) return;
        unblocked += QUIET_MS;
      }
      await new Promise((r) => setTimeout(r, QUIET_MS));
    }
  }

  /** Stops piping (the FIFO stays open: it belongs to the task manager). */
  stop(): void {
    if (!this.from) return;
    this.from.off('data', this.#onData);
    if (this.to) this.from.unpipe(this.to);
  }
}

// Sources paused because an attached client is slow, with the clients holding each one.
const holders = new WeakMap<Readable, Set<object>>();

function hold(from: Readable, who: object): void {
  const set = holders.get(from) ?? new Set<object>();
  holders.set(from, set);
  set.add(who);
  from.pause();
}

function release(from: Readable, who: object): void {
  const set = holders.get(from);
  if (!set?.delete(who)) return;
  if (set.size === 0) from.resume();
}

/**
 * Copies a live container output (which the container log also reads) into a client channel:
 * a tee, not a steal. A slow client pauses the source until it drained (containerd's attach
 * writers block the same way); stop() always lets the source flow again.
 */
export class OutputTee {
  readonly #token = {};
  readonly #onData: (chunk: Buffer) => void;
  readonly #onDrain = () => { if (this.from) release(this.from, this.#token); };
  #lastData = Date.now();

  constructor(private readonly from: Readable | undefined, private readonly to: Writable | undefined) {
    this.#onData = (chunk: Buffer) => {
      this.#lastData = Date.now();
      if (!this.to || this.to.destroyed || !this.from) return;
      if (!this.to.write(chunk)) {
        hold(this.from, this.#token);
        this.to.once('drain', this.#onDrain);
      }
    };
    if (!from || !to) return;
    to.on('error', () => undefined);
    to.once('close', () => this.stop());
    from.on('data', this.#onData);
  }

  /** Waits for a quiet time of the source after this call (made once the container exited; as OutputPump.drain). */
  async drain(signal: AbortSignal): Promise<void> {
    const stoppedAt = Date.now();
    const until = stoppedAt + MAX_UNBLOCKED_DRAIN_MS;
    while (!signal.aborted && this.from && !this.from.destroyed && Date.now() < until) {
      if (Date.now() - Math.max(this.#lastData, stoppedAt) >= QUIET_MS) return;
      await new Promise((r) => setTimeout(r, QUIET_MS));
    }
  }

  stop(): void {
    if (!this.from) return;
    this.from.off('data', this.#onData);
    this.to?.off('drain', this.#onDrain);
    release(this.from, this.#token);
  }
}

/** Resolves when `signal` aborts (at once when it already did). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
