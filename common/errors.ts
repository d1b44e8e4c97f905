// Error classes, named once, each carrying the gRPC code it maps to. Every layer throws these;
// the CRI server (grpc-js) and the ttrpc server turn them into a status in one place each, and
// the ttrpc client turns a status back into a class, so upper layers see kinds, never wire codes.

/** gRPC status codes (google.rpc.Code). Numbers are the wire values used by gRPC and ttrpc. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type CodeNumber = (typeof Code)[keyof typeof Code];

export type ErrorKind =
  | 'cancelled'
  | 'unknown'
  | 'invalid-argument'
  | 'deadline-exceeded'
  | 'not-found'
  | 'already-exists'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'failed-precondition'
  | 'aborted'
  | 'out-of-range'
  | 'unimplemented'
  | 'internal'
  | 'unavailable'
  | 'data-loss'
  | 'unauthenticated';

// The compiler refuses a new kind until it has a code here.
const CODE_OF: Record<ErrorKind, CodeNumber> = {
  cancelled: Code.CANCELLED,
  unknown: Code.UNKNOWN,
  'invalid-argument': Code.INVALID_ARGUMENT,
  'deadline-exceeded': Code.DEADLINE_EXCEEDED,
  'not-found': Code.NOT_FOUND,
  'already-exists': Code.ALREADY_EXISTS,
  'permission-denied': Code.PERMISSION_DENIED,
  'resource-exhausted': Code.RESOURCE_EXHAUSTED,
  'failed-precondition': Code.FAILED_PRECONDITION,
  aborted: Code.ABORTED,
  'out-of-range': Code.OUT_OF_RANGE,
  unimplemented: Code.UNIMPLEMENTED,
  internal: Code.INTERNAL,
  unavailable: Code.UNAVAILABLE,
  'data-loss': Code.DATA_LOSS,
  unauthenticated: Code.UNAUTHENTICATED,
};

const KIND_OF = new Map<number, ErrorKind>(
  Object.entries(CODE_OF).map(([kind, code]) => [code, kind as ErrorKind]),
);

// Brand so `isBerthError` holds across two copies of this module (bundled shim + daemon).
const BRAND = Symbol.for('berth.error');

export class BerthError extends Error {
  readonly kind: ErrorKind;
  readonly [BRAND] = true;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'BerthError';
  }
  get code(): CodeNumber {
    return CODE_OF[this.kind];
  }
}

export class InvalidArgumentError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-argument', message, options);
  }
}
export class NotFoundError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not-found', message, options);
  }
}
export class AlreadyExistsError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('already-exists', message, options);
  }
}
export class FailedPreconditionError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('failed-precondition', message, options);
  }
}
export class UnavailableError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}
export class DeadlineExceededError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('deadline-exceeded', message, options);
  }
}
export class UnimplementedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unimplemented', message, options);
  }
}
export class InternalError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}

export function isBerthError(e: unknown): e is BerthError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

export function isKind(e: unknown, kind: ErrorKind): boolean {
  return isBerthError(e) && e.kind === kind;
}

/** A wire code back to a class. Code 0 is not an error; unknown numbers become 'unknown'. */
export function errorFromCode(code: number, message: string): BerthError {
  return new BerthError(KIND_OF.get(code) ?? 'unknown', message);
}

// Node system errors that have an obvious class (containerd's errdefs does the same for Go's).
const ERRNO_KIND: Record<string, ErrorKind> = {
  ENOENT: 'not-found',
  EEXIST: 'already-exists',
  EACCES: 'permission-denied',
  EPERM: 'permission-denied',
  EINVAL: 'invalid-argument',
  ETIMEDOUT: 'deadline-exceeded',
  ECONNREFUSED: 'unavailable',
  EPIPE: 'failed-precondition',
};

/** Any thrown value to (code, message): the single place a throw becomes a status. */
export function toStatus(e: unknown): { code: CodeNumber; message: string } {
  if (isBerthError(e)) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const errno = (e as NodeJS.ErrnoException).code;
    const kind = errno !== undefined ? ERRNO_KIND[errno] : undefined;
    return { code: kind ? CODE_OF[kind] : Code.UNKNOWN, message: e.message };
  }
  return { code: Code.UNKNOWN, message: String(e) };
}
