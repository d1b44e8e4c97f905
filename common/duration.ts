// Go's time.ParseDuration / Duration.String for config values such as `stream_idle_timeout =
// "4h0m0s"`. Values travel as milliseconds (possibly fractional below 1 ms).
import { InvalidArgumentError } from './errors.js';

const NS_PER: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
// Escaped, not literal: esbuild escapes non-ASCII in strings but not in regex literals, and one
// such character makes the whole daemon bundle a two-byte source that Node decodes and V8 scans
// more slowly at every start (cli/bundle.test.ts checks the bundle stays ASCII).
const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;

/** Parses a Go duration string ("4h0m0s", "1.5s", "300ms", "0") into milliseconds. */
export function parseDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new InvalidArgumentError(`invalid duration ${JSON.stringify(text)}`);
  let ns = 0;
  while (rest !== '') {
    const m = PART.exec(rest);
    if (!m) {
      throw new InvalidArgumentError(
        `invalid duration ${JSON.stringify(text)}: expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "4h0m0s"`,
      );
    }
    ns += Number(m[1]) * NS_PER[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return (sign * ns) / 1e6;
}

/** Formats milliseconds the way Go's Duration.String does ("4h0m0s", "1.5s", "300ms", "0s"). */
export function formatDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  ns = Math.abs(ns);
  const sign = neg ? '-' : '';
  if (ns < 1e9) {
    if (ns < 1e3) return `${sign}${ns}ns`;
    if (ns < 1e6) return `${sign}${fraction(ns, 1e3)}µs`;
    return `${sign}${fraction(ns, 1e6)}ms`;
  }
  const h = Math.floor(ns / 3600e9);
  ns -= h * 3600e9;
  const m = Math.floor(ns / 60e9);
  ns -= m * 60e9;
  const s = fraction(ns, 1e9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

// `value / unit` written without trailing zeros in the fraction, as Go does.
function fraction(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const rem = value - whole * unit;
  if (rem === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rem).padStart(digits, '0').replace(/0+$/, '')}`;
}
