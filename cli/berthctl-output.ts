// How berthctl prints: aligned tables for people, or `-o json` / `-o yaml` of the CRI reply as
// crictl prints it (protobuf JSON names: camelCase fields, enum names, 64-bit integers as strings).
import { Option } from 'commander';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = typeof OUTPUT_FORMATS[number];

/** `-o, --output <format>` for a command; `formats[0]` is its default. */
export function outputOption(formats: readonly OutputFormat[] = OUTPUT_FORMATS): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join(', ')}`).choices(formats).default(formats[0]);
}

/** Columns padded to their widest cell, three spaces apart; the first row is the header. */
export function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()}\n`);
}

/** protobufjs conversion to what protobuf's JSON mapping writes, unset fields included (as crictl prints). */
const PROTO_JSON = { longs: String, enums: String, bytes: String, defaults: true, json: true };
type MessageClass = { toObject(message: object, options: typeof PROTO_JSON): Record<string, unknown> };

/**
 * Plain data: CRI messages (anywhere inside `v`) converted with every field, so that a zero enum
 * (SANDBOX_READY, CONTAINER_CREATED_EVENT) or an empty string is printed rather than left out.
 */
export function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v === null || typeof v !== 'object') return v;
  const ctor = (v as { constructor?: Partial<MessageClass> }).constructor;
  if (ctor && ctor !== Object && typeof ctor.toObject === 'function') return ctor.toObject(v, PROTO_JSON);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

/** Prints `data` as indented JSON or as YAML (client-node's YAML writer, loaded only here). */
export async function printData(format: Exclude<OutputFormat, 'table'>, data: unknown): Promise<void> {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(plain(data), null, 2)}\n`);
    return;
  }
  const { dumpYaml } = (await import('@kubernetes/client-node/dist/yaml.js')) as { dumpYaml: (o: unknown) => string };
  process.stdout.write(dumpYaml(plain(data)));
}

/** A listing: the table `rows()` builds, or the whole reply as JSON/YAML. */
export async function printListing(format: OutputFormat, reply: unknown, rows: () => string[][]): Promise<void> {
  if (format === 'table') table(rows());
  else await printData(format, reply);
}
