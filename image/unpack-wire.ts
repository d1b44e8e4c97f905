// The messages between image/unpacker.ts and its worker (image/unpack-worker.ts). Errors cross
// the thread as plain data and come back as the same kind (or the same errno code).
import { BerthError, isBerthError, type ErrorKind } from '../common/index.js';
import type { ApplyResult } from './apply-layer.js';
import { diskUsage, type Usage } from './disk-usage.js';
import type { Compression } from './media-types.js';

export interface UnpackRequest {
  readonly type: 'apply';
  readonly id: number;
  /** Directory the layer is applied onto. */
  readonly root: string;
  /** The layer blob, or the read fd of its ingest file, then followed by `grow` messages. */
  readonly source: { readonly file: string } | { readonly fd: number };
  readonly compression: Compression;
  /** A directory to measure (diskUsage) once the layer is applied: the snapshot's `fs`. */
  readonly measure?: string;
}

/** A layer applied, and the usage of the directory the request asked to measure. */
export interface UnpackResult extends ApplyResult {
  readonly usage?: Usage;
}

/** `result` with the usage of `measure` added, on whichever thread applied the layer. */
export async function withUsage(result: ApplyResult, measure: string | undefined): Promise<UnpackResult> {
  return measure === undefined ? result : { ...result, usage: await diskUsage(measure) };
}

/** How far a followed ingest file is written (GrowthState), or that its download failed. */
export type GrowMessage = { readonly type: 'grow'; readonly id: number; readonly size: number; readonly final: boolean }
  | { readonly type: 'fail'; readonly id: number; readonly error: WireError };

export type ToWorker = UnpackRequest | GrowMessage;

/**
 * The worker has read all it was told is written and waits for more than `offset` bytes: the
 * main thread answers with a GrowMessage once there are (one message per wait, not per write).
 */
export interface WantMessage {
  readonly type: 'want';
  readonly id: number;
  readonly offset: number;
}

export interface WireError {
  readonly message: string;
  readonly kind?: ErrorKind;
  /** A Node system error's code (`ENOSPC`), so toStatus maps it as before. */
  readonly code?: string;
}

export type UnpackReply = { readonly type: 'done'; readonly id: number; readonly result: UnpackResult }
  | { readonly type: 'done'; readonly id: number; readonly error: WireError };

export type FromWorker = UnpackReply | WantMessage;

export function toWireError(err: unknown): WireError {
  if (isBerthError(err)) return { message: err.message, kind: err.kind };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { message: String(err) };
}

export function fromWireError(w: WireError): Error {
  if (w.kind) return new BerthError(w.kind, w.message);
  const err = new Error(w.message) as NodeJS.ErrnoException;
  if (w.code) err.code = w.code;
  return err;
}
