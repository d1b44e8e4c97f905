// Image references, parsed and normalised the way containerd's ParseDockerRef does it
// (docker/distribution grammar): `busybox` -> `docker.io/library/busybox:latest`,
// `name:tag@digest` keeps only the digest.
import { InvalidArgumentError } from '../common/index.js';

export interface ImageRef {
  /** Registry host as written in the ref, `docker.io` for Docker Hub (may carry `:port`). */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256 = /^sha256:[0-9a-f]{64}$/;

/** Parses and normalises an image reference; throws InvalidArgumentError on anything invalid. */
export function parseReference(input: string): ImageRef {
  const bad = (why: string) => new InvalidArgumentError(`invalid image reference ${JSON.stringify(input)}: ${why}`);
  if (typeof input !== 'string' || input.length === 0) throw bad('empty');
  if (/^[a-f0-9]{64}$/.test(input)) throw bad('cannot specify 64-byte hexadecimal strings');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('invalid digest');
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) throw bad('sha256 digest must be 64 lowercase hex characters');
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad('invalid tag');
  }
  if (rest.length === 0) throw bad('missing repository name');
  if (rest.length > 255) throw bad('repository name must not be longer than 255 characters');
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let domain = 'docker.io';
  let repoPath = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    repoPath = rest.slice(slash + 1);
    if (!DOMAIN.test(domain)) throw bad('invalid registry host');
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  const components = repoPath.split('/');
  for (const c of components) {
    if (!COMPONENT.test(c)) {
      throw bad(c.toLowerCase() !== c ? 'repository name must be lowercase' : `invalid path component ${JSON.stringify(c)}`);
    }
  }
  if (domain === 'docker.io' && components.length === 1) repoPath = `library/${repoPath}`;
  if (digest !== undefined) return { domain, path: repoPath, digest };
  return { domain, path: repoPath, tag: tag ?? 'latest' };
}

/** `domain/path` without tag or digest. */
export function repoName(ref: ImageRef): string {
  return `${ref.domain}/${ref.path}`;
}

/** The normalised string form: `domain/path:tag` or `domain/path@digest`. */
export function formatReference(ref: ImageRef): string {
  return ref.digest !== undefined ? `${repoName(ref)}@${ref.digest}` : `${repoName(ref)}:${ref.tag ?? 'latest'}`;
}

export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

export function isSha256Digest(s: string): boolean {
  return SHA256.test(s);
}

/** Throws InvalidArgumentError unless `s` is `sha256:<64 lowercase hex>`. */
export function checkDigest(s: string, what = 'digest'): string {
  if (!SHA256.test(s)) throw new InvalidArgumentError(`${what} ${JSON.stringify(s)} is not a sha256:<64 hex> digest`);
  return s;
}
