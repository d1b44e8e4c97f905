// common: the bottom layer. Error classes and their codes, cleanup stacks, per-key locks,
// loggers and path safety, shared by every other layer.
export * from './errors.js';
export { CleanupStack } from './cleanup-stack.js';
export { KeyedMutex } from './keyed-mutex.js';
export { PhaseClock, type Phase } from './phase-clock.js';
export { deepFreeze, settleAll, writeFileAtomicSync } from './objects.js';
export { createLogger, deferredLogger, silentLogger, type DeferredLogger, type Logger } from './log.js';
export { isValidIdentifier, validateIdentifier, joinWithin } from './safe-path.js';
export { parseDuration, formatDuration } from './duration.js';
export { FAULT_POINTS, faultPoint, type FaultPoint } from './fault.js';
export { createHash, randomBytes } from './lazy-crypto.js';
