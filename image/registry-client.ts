// OCI distribution client for one repository: manifests and blobs, tried host by host (mirrors
// first, then the upstream), with auth retries, redirects and Docker-Content-Digest checks.
import { BerthError, FailedPreconditionError, NotFoundError, UnavailableError, isBerthError, type Logger } from '../common/index.js';
import { Authorizer, unauthenticated, type Credentials } from './auth.js';
import type { Capability, RegistryHost } from './hosts.js';
import type { Response } from './http-request.js';
import { request } from './request-lazy.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_SIZE } from './media-types.js';
import { sha256Of } from './content-store.js';
import { checkDigest } from './reference.js';

export interface RegistryClientOptions {
  hosts: readonly RegistryHost[];
  /** Repository path inside the registry (`library/busybox`). */
  repoPath: string;
  credentials?: Credentials;
  /** Fail a request whose socket sees no bytes for this long. */
  idleMs: number;
  log: Logger;
}

export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

const USER_AGENT = 'berth/0.1 (containerd/1.6.20 compatible)';
const MAX_TRIES = 5;

function errorFor(status: number, what: string, detail: string): BerthError {
  if (status === 401) return unauthenticated(`${what}: pull access denied, repository does not exist or may require authorization: ${detail}`);
  if (status === 403) return new BerthError('permission-denied', `${what}: access denied: ${detail}`);
  if (status === 404) return new NotFoundError(`${what}: not found: ${detail}`);
  if (status === 429) return new BerthError('resource-exhausted', `${what}: too many requests: ${detail}`);
  return new UnavailableError(`${what}: HTTP ${status}: ${detail}`);
}

async function errorDetail(res: Response): Promise<string> {
  try {
    const b = (await res.text(64 * 1024)).toString('utf8');
    const j = JSON.parse(b) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(j.errors) && j.errors.length) return j.errors.map((e) => `${e.code ?? '?'} ${e.message ?? ''}`.trim()).join('; ');
    return b.slice(0, 200);
  } catch {
    return `HTTP ${res.status}`;
  }
}

export class RegistryClient {
  readonly #o: RegistryClientOptions;
  readonly #auth: Authorizer;

  constructor(o: RegistryClientOptions) {
    this.#o = o;
    this.#auth = new Authorizer(o.hosts[0]?.registry ?? '', o.repoPath, o.credentials, o.idleMs);
  }

  #url(h: RegistryHost, rest: string): URL {
    const u = new URL(`${h.scheme}://${h.host}${h.path}/${this.#o.repoPath}/${rest}`);
    const upstream = h.registry === 'docker.io' ? 'registry-1.docker.io' : h.registry;
    if (h.host !== upstream) u.searchParams.set('ns', h.registry);
    return u;
  }

  /** One request against one host: auth retries, redirects (auth not carried to another host). */
  async #send(h: RegistryHost, method: 'GET' | 'HEAD', url: URL, accept: string, what: string): Promise<Response> {
    let target = url;
    let redirects = 0;
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const sameHost = target.host === h.host;
      // hosts.toml [header] values (tokens, often) go to that host only, never to a redirect
      // target elsewhere, like the Authorization header (docs/security.md).
      const headers: Record<string, string | string[]> = { ...(sameHost ? h.headers : {}), 'user-agent': USER_AGENT, accept };
      const authz = sameHost ? this.#auth.header(h.host) : undefined;
      if (authz) headers.authorization = authz;
      // client certificates and dial_timeout are the host's own, like its headers
      const res = await request({
        method, url: target, headers, idleMs: this.#o.idleMs, ...(sameHost ? { connectMs: h.dialTimeoutMs } : {}),
        tls: { skipVerify: h.skipVerify, ca: h.ca, ...(sameHost ? { client: h.client } : {}) },
      });
      if (res.status >= 300 && res.status < 400 && res.headers.location) {
        res.discard();
        if (++redirects > 10) throw new UnavailableError(`${what}: too many redirects`);
        target = new URL(res.headers.location, target);
        attempt--;
        continue;
      }
      if (res.status === 401 && sameHost) {
        const challenge = res.headers['www-authenticate'];
        const detail = await errorDetail(res);
        if (await this.#auth.onUnauthorized(h.host, challenge, { skipVerify: h.skipVerify, ca: h.ca })) continue;
        throw errorFor(401, what, detail);
      }
      if (res.status === 408 || res.status === 429) {
        res.discard();
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        continue;
      }
      return res;
    }
    throw new UnavailableError(`${what}: gave up after ${MAX_TRIES} tries`);
  }

  /** Runs `fn` against each host with `cap` in order until one succeeds. */
  async #eachHost<T>(cap: Capability, what: string, fn: (h: RegistryHost) => Promise<T>): Promise<T> {
    const hosts = this.#o.hosts.filter((h) => h.capabilities.includes(cap));
    if (hosts.length === 0) throw new FailedPreconditionError(`${what}: no registry host with capability ${cap}`);
    const errors: unknown[] = [];
    for (const h of hosts) {
      try {
        return await fn(h);
      } catch (err) {
        this.#o.log.debug({ err, host: h.host, what }, 'registry host failed, trying the next');
        errors.push(err);
      }
    }
    // Prefer the most telling error: auth and integrity problems over not-found over transport.
    const rank = (e: unknown) => {
      const k = isBerthError(e) ? e.kind : 'unknown';
      return ['unauthenticated', 'permission-denied', 'failed-precondition', 'deadline-exceeded', 'invalid-argument'].includes(k) ? 0
        : k === 'not-found' ? 2 : 1;
    };
    const best = [...errors].sort((a, b) => rank(a) - rank(b))[0];
    throw best;
  }

  /** Fetches a manifest or index by tag or digest; the digest is checked against the body. */
  async fetchManifest(reference: string, accept = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    const byDigest = reference.startsWith('sha256:');
    if (byDigest) checkDigest(reference);
    return this.#eachHost(byDigest ? 'pull' : 'resolve', `manifest ${this.#o.repoPath}:${reference}`, async (h) => {
      const what = `manifest ${h.host}/${this.#o.repoPath}:${reference}`;
      const res = await this.#send(h, 'GET', this.#url(h, `manifests/${reference}`), accept, what);
      if (res.status !== 200) throw errorFor(res.status, what, await errorDetail(res));
      const len = Number(res.headers['content-length'] ?? -1);
      if (len > MAX_MANIFEST_SIZE) {
        res.discard();
        throw new FailedPreconditionError(`${what}: manifest of ${len} bytes exceeds ${MAX_MANIFEST_SIZE}`);
      }
      const body = await res.text(MAX_MANIFEST_SIZE);
      const digest = sha256Of(body);
      const header = res.headers['docker-content-digest'];
      if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
        throw new FailedPreconditionError(`${what}: body digest ${digest} does not match Docker-Content-Digest ${header}`);
      }
      if (byDigest && digest !== reference) {
        throw new FailedPreconditionError(`${what}: body digest ${digest} does not match requested ${reference}`);
      }
      const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      return { body, mediaType, digest };
    });
  }

  /** Streams blob `digest` into `sink`, host by host; a failed sink (digest mismatch) tries the next host. */
  async fetchBlob<T>(digest: string, mediaType: string, sink: (res: Response) => Promise<T>): Promise<T> {
    checkDigest(digest);
    return this.#eachHost('pull', `blob ${this.#o.repoPath}@${digest}`, async (h) => {
      const what = `blob ${h.host}/${this.#o.repoPath}@${digest}`;
      const res = await this.#send(h, 'GET', this.#url(h, `blobs/${digest}`), `${mediaType}, */*`, what);
      if (res.status !== 200) throw errorFor(res.status, what, await errorDetail(res));
      try {
        return await sink(res);
      } finally {
        res.discard();
      }
    });
  }
}
