// CRI container log files (docs/cri.md "Logs"): `<RFC3339Nano> <stdout|stderr> <P|F> <content>\n` lines
// from a task's stdout/stderr, long lines split at max_container_log_line_size into P records.
// Writes are synchronous on one fd, so records of two streams never interleave inside a line
// and what has been read from a FIFO is in the file before the next read. Reopen switches the
// fd (kubelet rotation); no path means output is read and dropped.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../../common/index.js';

export type StreamName = 'stdout' | 'stderr';

const NS_BASE = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Now as Go's RFC3339Nano in UTC: nanosecond fraction with trailing zeros dropped. */
export function rfc3339Nano(ns: bigint = NS_BASE + process.hrtime.bigint()): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, frac === '' ? 'Z' : `.${frac}Z`);
}

function ownBytes(b: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(b.length);
  b.copy(own);
  return own;
}

export class ContainerLog {
  #fd: number | undefined;
  #lastData = 0;
  #streams = new Set<Readable>();
  readonly #buffers = new Map<StreamName, Buffer>();

  constructor(readonly file: string, readonly maxLineSize: number, private readonly log: Logger) {
    this.#open();
  }

  #open(): void {
    if (this.file === '') return;
    // A relative path would land under the daemon's working directory: such a record (written
    // before CreateContainer checked it) gets its output dropped (docs/security.md).
    if (!path.isAbsolute(this.file)) {
      this.log.warn({ file: this.file }, 'container log path is not absolute; output is dropped');
      return;
    }
    // The pod log dirs are 0755 as kubelet makes them: log readers on the node list them.
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o755 });
    this.#fd = openSync(this.file, 'a', 0o640);
  }

  /** Reads `stream` into the log until it ends. */
  attach(stream: Readable | undefined, name: StreamName): void {
    if (!stream) return;
    this.#streams.add(stream);
    stream.on('data', (chunk: Buffer) => this.#onData(name, chunk));
    stream.on('end', () => this.#flushPartial(name));
    stream.on('close', () => this.#streams.delete(stream));
    stream.on('error', (err) => this.log.warn({ err, stream: name }, 'container output stream failed'));
  }

  #onData(name: StreamName, chunk: Buffer): void {
    this.#lastData = Date.now();
    let buf = Buffer.concat([this.#buffers.get(name) ?? Buffer.alloc(0), chunk]);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl >= 0) {
        let end = nl;
        if (end > 0 && buf[end - 1] === 0x0d) end--;
        this.#writeLine(name, buf.subarray(0, end), true);
        buf = buf.subarray(nl + 1);
        continue;
      }
      const max = this.maxLineSize;
      if (max > 0 && buf.length > max) {
        this.#write(name, buf.subarray(0, max), 'P');
        buf = buf.subarray(max);
        continue;
      }
      break;
    }
    // A partial line waits for its end in a copy of its own: a view into the read chunk, or into
    // Buffer's shared pool, would keep the whole chunk or pool slab while the container is quiet.
    if (buf.length === 0) this.#buffers.delete(name);
    else this.#buffers.set(name, ownBytes(buf));
  }

  #writeLine(name: StreamName, line: Buffer, full: boolean): void {
    const max = this.maxLineSize;
    let rest = line;
    while (max > 0 && rest.length > max) {
      this.#write(name, rest.subarray(0, max), 'P');
      rest = rest.subarray(max);
    }
    this.#write(name, rest, full ? 'F' : 'P');
  }

  #flushPartial(name: StreamName): void {
    const buf = this.#buffers.get(name);
    this.#buffers.delete(name);
    if (buf && buf.length > 0) this.#writeLine(name, buf, false);
  }

  #write(name: StreamName, content: Buffer, tag: 'P' | 'F'): void {
    if (this.#fd === undefined) return;
    const record = Buffer.concat([Buffer.from(`${rfc3339Nano()} ${name} ${tag} `), content, Buffer.from('\n')]);
    try {
      writeSync(this.#fd, record);
    } catch (err) {
      this.log.warn({ err, file: this.file }, 'cannot write container log');
    }
  }

  /** Opens the path again (kubelet rotated the file away) and closes the old fd. */
  reopen(): void {
    const old = this.#fd;
    this.#fd = undefined;
    this.#open();
    if (old !== undefined) closeSync(old);
  }

  /** Waits until no output arrived for `quietMs` (at most `maxMs`): the shim's last copies landed. */
  async drain(quietMs = 100, maxMs = 2_000): Promise<void> {
    const until = Date.now() + maxMs;
    while (this.#streams.size > 0 && Date.now() < until) {
      const idle = Date.now() - this.#lastData;
      if (idle >= quietMs) return;
      await new Promise((r) => setTimeout(r, quietMs - idle));
    }
  }

  /** Writes pending partial lines and closes the file. */
  close(): void {
    this.#flushPartial('stdout');
    this.#flushPartial('stderr');
    for (const s of this.#streams) s.removeAllListeners('data');
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** The open logs of running containers, by container id. */
export class ContainerLogs {
  readonly #logs = new Map<string, ContainerLog>();

  constructor(private readonly maxLineSize: number, private readonly log: Logger) {}

  /** Starts logging a task's output to `file` ("" = read and drop). Replaces an older log of the id. */
  open(id: string, file: string, streams: { stdout?: Readable; stderr?: Readable }): ContainerLog {
    this.#logs.get(id)?.close();
    const l = new ContainerLog(file, this.maxLineSize, this.log.child({ containerId: id }));
    l.attach(streams.stdout, 'stdout');
    l.attach(streams.stderr, 'stderr');
    this.#logs.set(id, l);
    return l;
  }

  get(id: string): ContainerLog | undefined {
    return this.#logs.get(id);
  }

  /** Drains and closes the log of `id` (after its process exited). */
  async finish(id: string): Promise<void> {
    const l = this.#logs.get(id);
    if (!l) return;
    await l.drain();
    l.close();
    if (this.#logs.get(id) === l) this.#logs.delete(id);
  }

  closeAll(): void {
    for (const l of this.#logs.values()) l.close();
    this.#logs.clear();
  }
}
