// What the error stream carries at the end of an exec/attach. v4 protocols: a Kubernetes
// metav1.Status JSON (Success, NonZeroExitCode with an ExitCode cause, or InternalError);
// older protocols: nothing on success, the plain error text on failure.

export type SessionOutcome = { kind: 'exited'; exitCode: number } | { kind: 'failed'; message: string };

export function statusJson(outcome: SessionOutcome): string {
  if (outcome.kind === 'exited' && outcome.exitCode === 0) {
    return JSON.stringify({ metadata: {}, status: 'Success' });
  }
  if (outcome.kind === 'exited') {
    return JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command, exit status ${outcome.exitCode}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
    });
  }
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${outcome.message}`,
    reason: 'InternalError',
    details: { causes: [{ message: outcome.message }] },
    code: 500,
  });
}

/** The bytes to write on the error stream, or undefined when nothing is written. */
export function errorStreamPayload(outcome: SessionOutcome, v4: boolean): string | undefined {
  if (v4) return statusJson(outcome);
  if (outcome.kind === 'exited') {
    return outcome.exitCode === 0 ? undefined : `command terminated with non-zero exit code: exit status ${outcome.exitCode}`;
  }
  return outcome.message;
}
