// containerd-shim-berth-v2: a terminal's last output survives the process's exit. The client
// deletes the task right after Wait (as containerd's CRI exit handler does); the shim must copy
// what is still in the pty to the stdout FIFO before it closes the master.
import { describe, expect, it } from 'vitest';
import type { FifoReader } from '../fixtures/index.js';
import { CALL, bundleDir, connectTask, makeTaskBundle, outputFifo, processSpec, rand, runcOptions, shimEnvPerTest, shimStart } from './shim-harness.js';

const newEnv = shimEnvPerTest();
const ROUNDS = 5;
/** Enough text that part of it is still in the pty (or the shim's buffers) when Delete arrives. */
const PAYLOAD = 'x'.repeat(60_000);

/** The tail of what the FIFO delivered once `needle` arrived (or after 3 s). */
async function tailOf(reader: FifoReader, needle: string): Promise<string> {
  const text = await reader.waitFor(needle, 3_000).catch(() => reader.text());
  return text.slice(-40);
}

describe('containerd-shim-berth-v2 terminal drain', () => {
  it('delivers the last lines of a TTY container that exits at once, every time', async () => {
    const e = await newEnv();
    for (let i = 0; i < ROUNDS; i++) {
      const id = `tty-${rand()}`;
      const out = outputFifo(e, `out-${i}`);
      await makeTaskBundle(e, id, { args: ['sh', '-c', `echo ${PAYLOAD}; echo last-line-${i}`], terminal: true });
      const task = await connectTask(e, await shimStart(e, id));
      await task.Create({ id, bundle: bundleDir(e, id), terminal: true, stdout: out.path, options: runcOptions(e) }, CALL);
      const waited = task.Wait({ id });
      await task.Start({ id }, CALL);
      expect((await waited).exitStatus).toBe(0);
      await task.Delete({ id }, CALL);
      await task.Shutdown({ id }, CALL).catch(() => undefined);
      expect(await tailOf(out.reader, `last-line-${i}\r\n`)).toMatch(new RegExp(`x\r\nlast-line-${i}\r\n$`));
    }
  });

  it('delivers the last lines of a TTY exec that exits at once, every time', async () => {
    const e = await newEnv();
    const id = `tty-${rand()}`;
    await makeTaskBundle(e, id, { args: ['sleep', '60'] });
    const task = await connectTask(e, await shimStart(e, id));
    await task.Create({ id, bundle: bundleDir(e, id), options: runcOptions(e) }, CALL);
    await task.Start({ id }, CALL);
    for (let i = 0; i < ROUNDS; i++) {
      const execId = `x${i}`;
      const out = outputFifo(e, `xout-${i}`);
      await task.Exec({ id, execId, terminal: true, stdout: out.path, spec: processSpec(['sh', '-c', `echo ${PAYLOAD}; echo last-line-${i}`], true) }, CALL);
      const waited = task.Wait({ id, execId });
      await task.Start({ id, execId }, CALL);
      expect((await waited).exitStatus).toBe(0);
      await task.Delete({ id, execId }, CALL);
      expect(await tailOf(out.reader, `last-line-${i}\r\n`)).toMatch(new RegExp(`x\r\nlast-line-${i}\r\n$`));
    }
    await task.Kill({ id, signal: 9 }, CALL);
    await task.Wait({ id });
    await task.Delete({ id }, CALL);
  });
});
