// One exec/attach session, independent of the wire protocol: call the backend with the
// channels the client opened, flush output, then report the outcome on the error channel.
import type { Logger } from '../../common/index.js';
import { toStatus } from '../../common/index.js';
import type { Readable, Writable } from 'node:stream';
import { endAndFlush } from './channels.js';
import type { ResizeQueue } from './resize-queue.js';
import { errorStreamPayload, type SessionOutcome } from './status.js';
import type { SessionRequest, StreamingBackend } from './types.js';

export interface SessionChannels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: ResizeQueue;
  /** Writes the error-stream payload (may be undefined: nothing to write) and closes it. */
  finishError(payload: string | undefined): Promise<void>;
}

export async function runSession(opts: {
  backend: StreamingBackend;
  request: SessionRequest;
  channels: SessionChannels;
  signal: AbortSignal;
  v4: boolean;
  log: Logger;
}): Promise<SessionOutcome> {
  const { backend, request, channels: ch, signal, log } = opts;
  const io = {
    ...(ch.stdin ? { stdin: ch.stdin } : {}),
    ...(ch.stdout ? { stdout: ch.stdout } : {}),
    ...(ch.stderr ? { stderr: ch.stderr } : {}),
    ...(ch.resize ? { resize: ch.resize } : {}),
    signal,
  };
  let outcome: SessionOutcome;
  try {
    if (request.kind === 'exec') {
      const { exitCode } = await backend.exec({ ...io, containerId: request.containerId, cmd: request.cmd, tty: request.tty });
      outcome = { kind: 'exited', exitCode };
    } else {
      await backend.attach({ ...io, containerId: request.containerId, tty: request.tty });
      outcome = { kind: 'exited', exitCode: 0 };
    }
  } catch (err) {
    outcome = { kind: 'failed', message: toStatus(err).message };
    log.warn({ err, containerId: request.containerId }, `${request.kind} failed`);
  }
  ch.resize?.close();
  await Promise.all([ch.stdout, ch.stderr].map((w) => (w ? endAndFlush(w) : undefined)));
  if (!signal.aborted) await ch.finishError(errorStreamPayload(outcome, opts.v4));
  return outcome;
}
