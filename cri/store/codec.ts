// Level keys and reading records back: anything that is not a version-1 record of the right
// shape is reported (never thrown), so one bad record cannot keep the daemon from starting.
import { RECORD_VERSION, type ContainerRecord, type SandboxRecord } from './records.js';

export const KEYS = {
  sandbox: 'sandbox/',
  container: 'container/',
  sandboxName: 'name/sandbox/',
  containerName: 'name/container/',
} as const;

/** Level range covering every key that starts with `prefix` ('/' + 1 = '0'). */
export function rangeOf(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1) };
}

type FieldType = 'string' | 'number' | 'object' | 'array' | 'string?' | 'number?' | 'boolean?' | 'object?';

const SANDBOX_FIELDS: Record<string, FieldType> = {
  metadata: 'object', config: 'object', runtimeHandler: 'string', createdAt: 'string', stage: 'string',
  pid: 'number', netnsPath: 'string', ip: 'string', additionalIps: 'array', readyAt: 'string?', stoppedAt: 'string?',
  timings: 'object?', podResources: 'object?', pauseless: 'object?',
};
const SANDBOX_METADATA: Record<string, FieldType> = { name: 'string', uid: 'string', namespace: 'string', attempt: 'number' };
const CONTAINER_FIELDS: Record<string, FieldType> = {
  sandboxId: 'string', metadata: 'object', config: 'object', imageRef: 'string', imageId: 'string', logPath: 'string',
  createdAt: 'string', startedAt: 'string?', finishedAt: 'string?', exitCode: 'number?', reason: 'string?',
  message: 'string?', pid: 'number', resources: 'object?', user: 'object?', timings: 'object?',
};
const CONTAINER_METADATA: Record<string, FieldType> = { name: 'string', attempt: 'number' };
const STAGES = new Set(['created', 'netns', 'network', 'task', 'complete', 'removing']);

/** A record or the reason it cannot be used. */
export type Decoded<T> = { ok: true; record: T } | { ok: false; reason: string };

export function decodeSandbox(raw: string, id: string): Decoded<SandboxRecord> {
  return decode<SandboxRecord>(raw, id, SANDBOX_FIELDS, SANDBOX_METADATA, (r) =>
    STAGES.has(r.stage) ? undefined : `unknown stage ${JSON.stringify(r.stage)}`);
}

export function decodeContainer(raw: string, id: string): Decoded<ContainerRecord> {
  return decode<ContainerRecord>(raw, id, CONTAINER_FIELDS, CONTAINER_METADATA, () => undefined);
}

export function decodeName(raw: string): Decoded<string> {
  const parsed = parseJson(raw);
  if (typeof parsed === 'string') return { ok: false, reason: parsed };
  if (parsed.v !== RECORD_VERSION) return { ok: false, reason: `unsupported record version ${JSON.stringify(parsed.v)}` };
  return typeof parsed.id === 'string' ? { ok: true, record: parsed.id } : { ok: false, reason: 'field id: expected string' };
}

function decode<T>(
  raw: string,
  id: string,
  fields: Record<string, FieldType>,
  metadata: Record<string, FieldType>,
  extra: (r: T) => string | undefined,
): Decoded<T> {
  const parsed = parseJson(raw);
  if (typeof parsed === 'string') return { ok: false, reason: parsed };
  if (parsed.v !== RECORD_VERSION) return { ok: false, reason: `unsupported record version ${JSON.stringify(parsed.v)}` };
  if (parsed.id !== id) return { ok: false, reason: `record id ${JSON.stringify(parsed.id)} does not match its key` };
  const bad = badField(parsed, fields, '') ?? badField(parsed.metadata as Record<string, unknown>, metadata, 'metadata.');
  if (bad) return { ok: false, reason: bad };
  const reason = extra(parsed as T);
  return reason ? { ok: false, reason } : { ok: true, record: parsed as T };
}

function parseJson(raw: string): Record<string, unknown> | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : 'not a JSON object';
}

function badField(obj: Record<string, unknown>, fields: Record<string, FieldType>, at: string): string | undefined {
  for (const [name, type] of Object.entries(fields)) {
    const v = obj[name];
    const optional = type.endsWith('?');
    if (v === undefined && optional) continue;
    const base = type.replace('?', '');
    const actual = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
    if (actual !== base) return `field ${at}${name}: expected ${base}, got ${actual}`;
  }
  return undefined;
}
