// OutputPump and OutputTee on plain streams: backpressure reaches the source, a tee never steals
// bytes from the other reader (the container log), and stopping always lets the source flow again.
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OutputPump, OutputTee, aborted } from './streaming-io.js';

/** A client channel that takes one chunk at a time and holds it until release(). */
class SlowClient extends Writable {
  readonly got: Buffer[] = [];
  #pending: (() => void) | undefined;
  constructor() { super({ highWaterMark: 4 }); }
  override _write(c: Buffer, _e: BufferEncoding, done: () => void): void { this.got.push(c); this.#pending = done; }
  release(): void { const p = this.#pending; this.#pending = undefined; p?.(); }
  get text(): string { return Buffer.concat(this.got).toString(); }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('OutputTee', () => {
  it('copies into the client while the other reader keeps every byte', async () => {
    const source = new PassThrough();
    const log: string[] = [];
    source.on('data', (d: Buffer) => log.push(d.toString()));
    const client = new PassThrough();
    const tee = new OutputTee(source, client);
    source.write('a');
    source.write('b');
    await tick();
    expect(client.read()?.toString()).toBe('ab');
    tee.stop();
    source.write('c');
    await tick();
    expect(log.join('')).toBe('abc');
    expect(client.read()).toBeNull();
  });

  it('pauses the source while the client is full and resumes it on drain', async () => {
    const source = new PassThrough();
    const client = new SlowClient();
    const tee = new OutputTee(source, client);
    source.write('first');
    await tick();
    expect(source.isPaused()).toBe(true);
    client.release();
    await tick();
    expect(source.isPaused()).toBe(false);
    tee.stop();
  });

  it('lets the source flow again when a blocked client detaches', async () => {
    const source = new PassThrough();
    const a = new OutputTee(source, new SlowClient());
    const b = new OutputTee(source, new SlowClient());
    source.write('more than four bytes');
    await tick();
    expect(source.isPaused()).toBe(true);
    a.stop();
    expect(source.isPaused()).toBe(true); // b still holds it
    b.stop();
    expect(source.isPaused()).toBe(false);
  });
});

describe('OutputPump', () => {
  it('drain() after a long quiet still takes output read in the same loop iteration as the exit', async () => {
    const source = new PassThrough();
    const got: Buffer[] = [];
    const client = new Writable({ write(c: Buffer, _e, done) { got.push(c); done(); } });
    const pump = new OutputPump(source, client);
    await new Promise((r) => setTimeout(r, 80)); // quiet for longer than QUIET_MS
    setImmediate(() => source.write('last words')); // ready in the same poll as the exit
    await pump.drain(new AbortController().signal);
    pump.stop();
    expect(Buffer.concat(got).toString()).toBe('last words');
  });

  it('pipes with backpressure and waits for a quiet source before drain() resolves', async () => {
    const source = new PassThrough();
    const client = new SlowClient();
    const pump = new OutputPump(source, client);
    source.write('one');
    source.write('two');
    const signal = new AbortController().signal;
    let drained = false;
    const done = pump.drain(signal).then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 120));
    expect(drained).toBe(false); // the client holds a chunk: not drained
    while (!client.text.includes('two')) {
      client.release();
      await tick();
    }
    client.release();
    await done;
    expect(client.text).toBe('onetwo');
    pump.stop();
  });

  it('reads and drops the output nobody asked for, so the process never blocks', async () => {
    const source = new PassThrough({ highWaterMark: 4 });
    const pump = new OutputPump(source, undefined);
    for (let i = 0; i < 100; i++) expect(source.write('0123456789')).toBe(true);
    pump.stop();
  });

  it('drain() ends at once when the session is aborted', async () => {
    const source = new PassThrough();
    const client = new SlowClient();
    const pump = new OutputPump(source, client);
    source.write('stuck');
    const ac = new AbortController();
    const done = pump.drain(ac.signal);
    ac.abort();
    await done;
    await aborted(ac.signal);
    pump.stop();
  });
});
