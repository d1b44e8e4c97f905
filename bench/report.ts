// The result of a run: samples per row and column, summarized into the printed table, saved as
// JSON and markdown under bench/results/<date>-<host>.{json,md}.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Machine } from './proc.js';
import { rowsFor, type Column, type RowDef } from './rows.js';
import { formatRatio, formatSpread, formatValue, ratio, summarize, type Summary } from './stats.js';

export interface RunResult {
  startedAt: string;
  machine: Machine;
  options: Record<string, unknown>;
  /** row id -> column -> samples */
  samples: Record<string, Partial<Record<Column, number[]>>>;
  /** Why a column is missing, per column (e.g. berth: "n/a (daemon not available)"). */
  notes: Partial<Record<Column, string>>;
  /** Figures that failed, with the error. */
  errors: { figure: string; runtime: string; error: string }[];
  /** Extra lines printed under the table (breakdowns, shim counts). */
  remarks: string[];
}

export function addSamples(r: RunResult, column: Column, samples: Record<string, number[]>): void {
  for (const [row, values] of Object.entries(samples)) {
    const cell = (r.samples[row] ??= {});
    (cell[column] ??= []).push(...values);
  }
}

interface TableRow {
  def: RowDef;
  berth?: Summary;
  containerd?: Summary;
  floor?: Summary;
  ratio?: number;
}

export function tableRows(r: RunResult): TableRow[] {
  const out: TableRow[] = [];
  const steadyPods = Array.isArray(r.options.steadyPods) ? (r.options.steadyPods as number[]) : [];
  for (const def of rowsFor(steadyPods)) {
    const cell = r.samples[def.id];
    if (!cell) continue;
    const berth = summarize(cell.berth ?? []);
    const containerd = summarize(cell.containerd ?? []);
    const floor = summarize(cell.floor ?? []);
    out.push({ def, berth, containerd, floor, ratio: ratio(berth?.median, containerd?.median) });
  }
  return out;
}

function cellText(s: Summary | undefined, unit: string, missing: string): string {
  return s ? `${formatValue(s.median, unit)} / ${formatValue(s.p90, unit)}` : missing;
}

/** The markdown table (also what the console prints). */
export function markdownTable(r: RunResult): string {
  const berthMissing = r.notes.berth ?? 'n/a';
  const head = '| figure | berth median / p90 | containerd median / p90 | ratio berth/containerd | floor | n (berth, containerd) | spread (berth, containerd) |';
  const lines = [head, '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const t of tableRows(r)) {
    const isFloor = t.def.figure === 'floor';
    lines.push([
      '', t.def.title,
      isFloor ? '' : cellText(t.berth, t.def.unit, berthMissing),
      isFloor ? '' : cellText(t.containerd, t.def.unit, r.notes.containerd ?? 'n/a'),
      isFloor ? '' : formatRatio(t.ratio, t.def.target),
      t.floor ? cellText(t.floor, t.def.unit, '') : '',
      isFloor ? `${t.floor?.n ?? 0}` : `${t.berth?.n ?? 0}, ${t.containerd?.n ?? 0}`,
      isFloor ? formatSpread(t.floor) : `${formatSpread(t.berth)}, ${formatSpread(t.containerd)}`,
      '',
    ].join(' | ').trim());
  }
  return lines.join('\n');
}

export function markdownReport(r: RunResult): string {
  const m = r.machine;
  return [
    `# berth bench — ${r.startedAt}`,
    '',
    `Machine: ${m.host}, ${m.cores} cores (${m.cpu}), ${m.memoryMiB} MiB, kernel ${m.kernel}, node ${m.node}, ${m.runc}, ${m.containerd}.`,
    `Options: ${JSON.stringify(r.options)}`,
    '',
    markdownTable(r),
    '',
    'Cells are median / p90 over all samples; spread is ±half the interquartile range over the median. '
      + 'Ratios compare medians; "MISS" marks a target from issues #9/#10 not met.',
    ...(r.notes.berth ? ['', `berth: ${r.notes.berth}`] : []),
    ...(r.remarks.length ? ['', ...r.remarks.map((x) => `- ${x}`)] : []),
    ...(r.errors.length ? ['', 'Errors:', ...r.errors.map((e) => `- ${e.figure} (${e.runtime}): ${e.error}`)] : []),
    '',
  ].join('\n');
}

/** Writes <dir>/<date>-<host>.json and .md; returns both paths. */
export async function saveResult(r: RunResult, dir: string): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:]/g, '').replace(/\..*$/, '');
  const base = path.join(dir, `${stamp}-${r.machine.host}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  await writeFile(json, JSON.stringify({ ...r, summary: tableRows(r) }, null, 2));
  await writeFile(md, markdownReport(r));
  return { json, md };
}
