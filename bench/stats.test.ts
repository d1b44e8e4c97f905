import { describe, expect, it } from 'vitest';
import { formatRatio, formatSpread, formatValue, median, p90, quantile, ratio, summarize } from './stats.js';

describe('bench statistics', () => {
  it('median of odd and even samples, unsorted input left untouched', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('p90 interpolates between closest ranks', () => {
    expect(p90([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBeCloseTo(9.1, 10);
    expect(p90([7])).toBe(7);
    expect(quantile([10, 20], 0)).toBe(10);
    expect(quantile([10, 20], 1)).toBe(20);
  });

  it('quantile rejects q outside 0..1 and gives NaN for no samples', () => {
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });

  it('summarize drops non-finite samples and reports the spread as IQR/median', () => {
    const s = summarize([10, 10, 20, 20, Number.NaN, Infinity]);
    expect(s).toMatchObject({ n: 4, median: 15, min: 10, max: 20 });
    expect(s!.spread).toBeCloseTo(10 / 15, 10);
    expect(summarize([])).toBeUndefined();
    expect(summarize([0, 0])!.spread).toBe(0);
  });

  it('ratio is berth/containerd and undefined when a side is missing or zero', () => {
    expect(ratio(30, 60)).toBe(0.5);
    expect(ratio(undefined, 60)).toBeUndefined();
    expect(ratio(30, 0)).toBeUndefined();
    expect(ratio(-1, 5)).toBeUndefined();
    expect(ratio(5, -1)).toBeUndefined();
    expect(ratio(0, 5)).toBe(0);
  });

  it('formats values, ratios with targets and spreads', () => {
    expect(formatValue(123.456, 'ms')).toBe('123 ms');
    expect(formatValue(12.345, 'ms')).toBe('12.3 ms');
    expect(formatValue(1.2345, 'MiB')).toBe('1.23 MiB');
    expect(formatValue(0.41234, 'ms')).toBe('0.412 ms');
    expect(formatValue(undefined, 'ms')).toBe('n/a');
    expect(formatRatio(0.618)).toBe('0.62x');
    expect(formatRatio(0.618, { op: '<=', value: 0.7 })).toBe('0.62x ok (≤ 0.7)');
    expect(formatRatio(1.3, { op: '<=', value: 0.7 })).toBe('1.30x MISS (≤ 0.7)');
    expect(formatRatio(0.9, { op: '>=', value: 1 })).toBe('0.90x MISS (≥ 1)');
    expect(formatRatio(undefined)).toBe('n/a');
    expect(formatSpread(summarize([10, 10, 20, 20]))).toBe("±33%");
    expect(formatSpread(undefined)).toBe('n/a');
  });
});
