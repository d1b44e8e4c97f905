// google.protobuf.Timestamp <-> Date with Go's zero-time rule. Go peers always send
// exited_at; "not exited" is 0001-01-01T00:00:00Z, i.e. seconds = -62135596800.
import { InvalidArgumentError } from '../common/index.js';
import type { google } from './gen/containerd.js';

/** Seconds of Go's zero time.Time relative to the Unix epoch. */
export const GO_ZERO_TIME_SECONDS = -62135596800;

export type TimestampProps = google.protobuf.Timestamp.$Properties;

/** A Date as a Timestamp; undefined becomes Go's zero time (what a Go shim sends for "unset"). */
export function toTimestamp(date: Date | undefined): { seconds: number; nanos: number } {
  if (date === undefined) return { seconds: GO_ZERO_TIME_SECONDS, nanos: 0 };
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('timestamp: invalid Date');
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** A Timestamp as a Date; absent, zero-time or pre-epoch (seconds <= 0) values are undefined. */
export function fromTimestamp(ts: TimestampProps | null | undefined): Date | undefined {
  const seconds = Number(ts?.seconds ?? 0);
  if (!(seconds > 0)) return undefined;
  const nanos = Number(ts?.nanos ?? 0);
  return new Date(seconds * 1000 + Math.floor(nanos / 1_000_000));
}
