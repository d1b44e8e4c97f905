// Paths built from ids, names and layer entries must never leave their root.
import path from 'node:path';
import { InvalidArgumentError } from './errors.js';

// containerd's identifier rule: 1-76 chars, alphanumeric groups joined by single '.', '_' or '-'.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export function isValidIdentifier(s: string): boolean {
  return s.length > 0 && s.length <= 76 && IDENTIFIER.test(s);
}

export function validateIdentifier(s: string, what = 'identifier'): string {
  if (!isValidIdentifier(s)) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(s)} is not valid: 1-76 characters, letters and digits joined by single '.', '_' or '-'`,
    );
  }
  return s;
}

/** Joins `parts` under `root`; throws InvalidArgument if the result is not strictly inside `root`. */
export function joinWithin(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const full = path.resolve(base, ...parts.map((p) => p.replace(/^\/+/, '')));
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new InvalidArgumentError(`path ${JSON.stringify(parts.join('/'))} escapes ${base}`);
  }
  if (full === base) throw new InvalidArgumentError(`path ${JSON.stringify(parts.join('/'))} names the root ${base} itself`);
  return full;
}
