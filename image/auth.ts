// Registry authentication as containerd does it: WWW-Authenticate challenges, bearer tokens from
// the realm (POST with credentials, GET otherwise), HTTP Basic, tokens cached per host + scope.
import { BerthError, InvalidArgumentError } from '../common/index.js';
import type { TlsOptions } from './http-request.js';
import { request } from './request-lazy.js';

/** Credentials for one registry: user + password, a docker `auth` string, or an identity token. */
export type Credentials =
  | { username: string; password: string }
  | { auth: string }
  | { identityToken: string };

/** Returns credentials for a registry host (`docker.io`, `127.0.0.1:5000`), or undefined. */
export type CredentialsProvider = (registry: string) => Credentials | undefined;

interface UserSecret { user: string; secret: string }

export function toUserSecret(c: Credentials): UserSecret {
  if ('username' in c) return { user: c.username, secret: c.password };
  if ('identityToken' in c) return { user: '', secret: c.identityToken };
  const decoded = Buffer.from(c.auth, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new InvalidArgumentError('credentials: auth must be base64 of "user:password"');
  return { user: decoded.slice(0, i), secret: decoded.slice(i + 1).replace(/\0+$/, '') };
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate value (several challenges allowed, quoted params). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    let i = 0;
    let cur: Challenge | undefined;
    const skip = (chars: string) => { while (i < v.length && chars.includes(v[i]!)) i++; };
    while (i < v.length) {
      skip(' \t,');
      const start = i;
      while (i < v.length && /[A-Za-z0-9_.!#$%&'*+^`|~-]/.test(v[i]!)) i++;
      if (i === start) break;
      const word = v.slice(start, i);
      skip(' \t');
      if (v[i] !== '=') {
        cur = { scheme: word.toLowerCase(), params: {} };
        out.push(cur);
        continue;
      }
      i++;
      skip(' \t');
      let value = '';
      if (v[i] === '"') {
        i++;
        while (i < v.length && v[i] !== '"') {
          if (v[i] === '\\' && i + 1 < v.length) i++;
          value += v[i++];
        }
        i++;
      } else {
        const vs = i;
        while (i < v.length && v[i] !== ',' && v[i] !== ' ') i++;
        value = v.slice(vs, i);
      }
      if (cur) cur.params[word.toLowerCase()] = value;
    }
  }
  return out;
}

export function unauthenticated(message: string): BerthError {
  return new BerthError('unauthenticated', message);
}

/** Per-pull authorizer: remembers the Authorization header per host. */
export class Authorizer {
  #byHost = new Map<string, string>();

  constructor(
    private readonly registry: string,
    private readonly repoPath: string,
    private readonly credentials: Credentials | undefined,
    private readonly idleMs: number,
  ) {}

  header(host: string): string | undefined {
    return this.#byHost.get(host);
  }

  /**
   * Handles a 401 from `host`. Returns true when a new Authorization header was obtained and the
   * request should be retried; false when retrying cannot help.
   */
  async onUnauthorized(host: string, wwwAuthenticate: string | string[] | undefined, tls: TlsOptions): Promise<boolean> {
    const challenges = parseChallenges(wwwAuthenticate);
    const previous = this.#byHost.get(host);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const creds = this.credentials ? toUserSecret(this.credentials) : undefined;
    if (bearer) {
      if (previous?.startsWith('Bearer ') && bearer.params.error) return false;
      const token = await this.#fetchToken(bearer.params, creds, tls);
      const next = `Bearer ${token}`;
      if (next === previous) return false;
      this.#byHost.set(host, next);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!creds) return false;
      const next = `Basic ${Buffer.from(`${creds.user}:${creds.secret}`).toString('base64')}`;
      if (next === previous) return false;
      this.#byHost.set(host, next);
      return true;
    }
    return false;
  }

  async #fetchToken(params: Record<string, string>, creds: UserSecret | undefined, tls: TlsOptions): Promise<string> {
    const realm = params.realm;
    if (!realm) throw unauthenticated(`${this.registry}: bearer challenge without realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch (err) {
      throw new InvalidArgumentError(`${this.registry}: invalid token realm ${JSON.stringify(realm)}`, { cause: err });
    }
    const scopes = [...new Set([...(params.scope ? params.scope.split(' ') : []), `repository:${this.repoPath}:pull`])];
    const service = params.service ?? '';
    if (creds) {
      const form = new URLSearchParams({ scope: scopes.join(' '), service, client_id: 'containerd-client' });
      if (creds.user === '') {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', creds.secret);
      } else {
        form.set('grant_type', 'password');
        form.set('username', creds.user);
        form.set('password', creds.secret);
      }
      const res = await request({
        method: 'POST', url: realmUrl, idleMs: this.idleMs, tls, body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      });
      if (res.status === 200) {
        const j = parseTokenBody(await res.text(1 << 20));
        if (j.access_token) return j.access_token;
        throw unauthenticated(`${this.registry}: token response has no access_token`);
      }
      res.discard();
      const fallback = [400, 401, 404].includes(res.status) || (res.status === 405 && creds.user !== '');
      if (!fallback) throw tokenError(this.registry, res.status);
    }
    const url = new URL(realmUrl);
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.user}:${creds.secret}`).toString('base64')}`;
    const res = await request({ method: 'GET', url, idleMs: this.idleMs, tls, headers });
    if (res.status !== 200) {
      res.discard();
      throw tokenError(this.registry, res.status);
    }
    const j = parseTokenBody(await res.text(1 << 20));
    const token = j.access_token || j.token;
    if (!token) throw unauthenticated(`${this.registry}: token response has neither token nor access_token`);
    return token;
  }
}

function tokenError(registry: string, status: number): BerthError {
  return status === 403
    ? new BerthError('permission-denied', `${registry}: token request denied (HTTP 403)`)
    : unauthenticated(`${registry}: failed to fetch an auth token (HTTP ${status})`);
}

function parseTokenBody(b: Buffer): { token?: string; access_token?: string } {
  try {
    const j = JSON.parse(b.toString('utf8')) as { token?: unknown; access_token?: unknown };
    return {
      token: typeof j.token === 'string' ? j.token : undefined,
      access_token: typeof j.access_token === 'string' ? j.access_token : undefined,
    };
  } catch (err) {
    throw new BerthError('unauthenticated', 'token response is not JSON', { cause: err });
  }
}
