// Statistics for the bench table: median, p90, spread, and the berth/containerd ratio, with the
// formatting the table prints. Pure functions; the only part of bench/ with unit tests.

export interface Summary {
  /** Number of samples. */
  n: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  /** Interquartile range over the median (0 when the median is 0): how noisy the figure is. */
  spread: number;
}

/** The q-quantile (0..1) of `values` by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0..1, got ${q}`);
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);
export const p90 = (values: readonly number[]): number => quantile(values, 0.9);

export function summarize(values: readonly number[]): Summary | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const m = median(finite);
  const iqr = quantile(finite, 0.75) - quantile(finite, 0.25);
  return {
    n: finite.length,
    median: m,
    p90: p90(finite),
    min: Math.min(...finite),
    max: Math.max(...finite),
    spread: m === 0 ? 0 : iqr / Math.abs(m),
  };
}

/**
 * berth / containerd, or undefined when either side is missing, the denominator is not positive
 * or the numerator is negative (a PSS "growth" below zero is noise, not a ratio).
 */
export function ratio(berth: number | undefined, containerd: number | undefined): number | undefined {
  if (berth === undefined || containerd === undefined) return undefined;
  if (!Number.isFinite(berth) || !Number.isFinite(containerd) || containerd <= 0 || berth < 0) return undefined;
  return berth / containerd;
}

/** A number with about three significant digits and its unit: `12.3 ms`, `0.412 ms`, `1234 /s`. */
export function formatValue(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return `${v.toFixed(digits)} ${unit}`;
}

/** `0.62x`; with a target, a verdict: `0.62x ok (≤ 0.7)` or `1.30x MISS (≤ 0.7)`. */
export function formatRatio(r: number | undefined, target?: { op: '<=' | '>='; value: number }): string {
  if (r === undefined || !Number.isFinite(r)) return 'n/a';
  const base = `${r.toFixed(2)}x`;
  if (!target) return base;
  const ok = target.op === '<=' ? r <= target.value : r >= target.value;
  return `${base} ${ok ? 'ok' : 'MISS'} (${target.op === '<=' ? '≤' : '≥'} ${target.value})`;
}

/** Spread as a percentage: `±8%`. */
export function formatSpread(s: Summary | undefined): string {
  return s ? `±${Math.round(s.spread * 50)}%` : 'n/a';
}
