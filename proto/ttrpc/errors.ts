// ttrpc's error vocabulary on top of common/errors.ts: the wire status <-> BerthError mapping
// used by both the client (status -> class) and the server (throw -> status).
import { BerthError, Code, UnavailableError, errorFromCode, toStatus, type CodeNumber } from '../../common/index.js';

/** RESOURCE_EXHAUSTED has no dedicated class in common; ttrpc uses it for the 4 MiB limit. */
export class ResourceExhaustedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('resource-exhausted', message, options);
  }
}

/** The error every pending and later call gets once a client connection is gone (ErrClosed). */
export function closedError(cause?: unknown): UnavailableError {
  return new UnavailableError('ttrpc: closed', cause === undefined ? undefined : { cause });
}

export interface WireStatus {
  code: number;
  message: string;
}

/** A status received from the peer back into a typed error. Code 0 means success: undefined. */
export function errorFromStatus(status: WireStatus | null | undefined): BerthError | undefined {
  if (!status || !status.code) return undefined;
  return errorFromCode(status.code, status.message ?? '');
}

/** Whatever a handler threw, as the status the server sends. */
export function statusFromError(e: unknown): { code: CodeNumber; message: string } {
  return toStatus(e);
}

export { Code };
