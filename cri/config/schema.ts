// A small schema language for TOML tables: one description per key drives both directions,
// parsing (type checks, snake_case -> camelCase, durations -> ms) and dumping (back to TOML).
import { TomlDate } from 'smol-toml';
import { InvalidArgumentError } from '../../common/index.js';
import { formatDuration, parseDuration } from '../../common/index.js';

export type Schema = (
  /** `check` returns why a value is refused (undefined: accepted). */
  | { t: 'string'; check?: (value: string) => string | undefined }
  | { t: 'boolean' }
  | { t: 'integer'; min?: number; max?: number }
  /** An integer written either as a TOML integer or a decimal string (containerd: `stream_server_port = "0"`). */
  | { t: 'port' }
  | { t: 'duration' }
  | { t: 'strings' }
  | { t: 'enum'; values: readonly string[]; aliases?: Readonly<Record<string, string>> }
  /** Known keys only; `unknown: 'ignore'` accepts other keys and lists them as ignored. */
  | { t: 'table'; fields: Readonly<Record<string, Schema>>; unknown?: 'error' | 'ignore' }
  /** Any keys (names chosen by the user, e.g. runtime handlers), each value checked by `of`. */
  | { t: 'map'; of: Schema }
  /** Any table, kept exactly as parsed. */
  | { t: 'raw-table' }
  /** Accepted with any value and listed as ignored. */
  | { t: 'ignored' }
) & { prop?: string };

export type Path = readonly string[];

/** `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc` */
export function formatPath(path: Path): string {
  return path.map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k))).join('.');
}

export function typeName(v: unknown): string {
  if (v instanceof TomlDate) return 'datetime';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  if (typeof v === 'bigint') return 'integer';
  if (v !== null && typeof v === 'object') return 'table';
  return typeof v;
}

export function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof TomlDate);
}

/** snake_case or PascalCase TOML key -> camelCase property. */
export function propOf(key: string, schema: Schema): string {
  if (schema.prop) return schema.prop;
  const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return camel.charAt(0).toLowerCase() + camel.slice(1);
}

function fail(path: Path, what: string): never {
  throw new InvalidArgumentError(`${formatPath(path)}: ${what}`);
}

const expected = (path: Path, want: string, v: unknown): never => fail(path, `expected ${want}, got ${typeName(v)}`);

export interface ParseContext {
  /** Dotted keys that were accepted but have no effect. */
  ignored: string[];
}

/** Checks `value` against `schema` and returns it converted (camelCase props, ms durations). */
export function parseValue(schema: Schema, value: unknown, path: Path, ctx: ParseContext): unknown {
  switch (schema.t) {
    case 'string': {
      if (typeof value !== 'string') return expected(path, 'string', value);
      const problem = schema.check?.(value);
      return problem === undefined ? value : fail(path, problem);
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : expected(path, 'boolean', value);
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return expected(path, 'integer', value);
      if (schema.min !== undefined && value < schema.min) fail(path, `must be at least ${schema.min}, got ${value}`);
      if (schema.max !== undefined && value > schema.max) fail(path, `must be at most ${schema.max}, got ${value}`);
      return value;
    }
    case 'port': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) return expected(path, 'port number (integer or decimal string)', value);
      if (n < 0 || n > 65535) fail(path, `port must be 0-65535, got ${n}`);
      return n;
    }
    case 'duration': {
      if (typeof value !== 'string') return expected(path, 'duration string like "4h0m0s"', value);
      let ms: number;
      try {
        ms = parseDuration(value);
      } catch (err) {
        return fail(path, (err as Error).message);
      }
      if (ms < 0) fail(path, `duration must not be negative, got ${JSON.stringify(value)}`);
      return ms;
    }
    case 'strings': {
      if (!Array.isArray(value)) return expected(path, 'array of strings', value);
      value.forEach((s, i) => {
        if (typeof s !== 'string') throw new InvalidArgumentError(`${formatPath(path)}[${i}]: expected string, got ${typeName(s)}`);
      });
      return [...(value as string[])];
    }
    case 'enum': {
      if (typeof value !== 'string') return expected(path, `one of ${schema.values.join(', ')}`, value);
      const v = schema.aliases?.[value] ?? value;
      if (!schema.values.includes(v)) fail(path, `expected one of ${schema.values.join(', ')}, got ${JSON.stringify(value)}`);
      return v;
    }
    case 'table': {
      if (!isTable(value)) return expected(path, 'table', value);
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        // Own keys only: `constructor`, `toString`, `__proto__` are unknown keys like any other.
        const field = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined;
        if (!field) {
          if (schema.unknown === 'ignore') {
            ctx.ignored.push(formatPath([...path, key]));
            continue;
          }
          fail([...path, key], `unknown key (known keys: ${Object.keys(schema.fields).join(', ')})`);
        }
        if (field.t === 'ignored') {
          ctx.ignored.push(formatPath([...path, key]));
          continue;
        }
        out[propOf(key, field)] = parseValue(field, v, [...path, key], ctx);
      }
      return out;
    }
    case 'map': {
      if (!isTable(value)) return expected(path, 'table', value);
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        // Assigning `__proto__` would swap the map's prototype and silently drop the entry.
        if (key === '__proto__') fail([...path, key], 'reserved name, not usable as a key');
        out[key] = parseValue(schema.of, v, [...path, key], ctx);
      }
      return out;
    }
    case 'raw-table':
      return isTable(value) ? structuredClone(value) : expected(path, 'table', value);
    case 'ignored':
      ctx.ignored.push(formatPath(path));
      return undefined;
  }
}

/** The reverse of parseValue: a loaded value back to TOML-ready data (TOML key names). */
export function dumpValue(schema: Schema, value: unknown): unknown {
  switch (schema.t) {
    case 'duration':
      return formatDuration(value as number);
    case 'strings':
      return [...(value as string[])];
    case 'table': {
      const out: Record<string, unknown> = {};
      const obj = value as Record<string, unknown>;
      for (const [key, field] of Object.entries(schema.fields)) {
        if (field.t === 'ignored') continue;
        const v = obj[propOf(key, field)];
        if (v !== undefined) out[key] = dumpValue(field, v);
      }
      return out;
    }
    case 'map':
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, dumpValue(schema.of, v)]));
    case 'raw-table':
      return structuredClone(value);
    default:
      return value;
  }
}
