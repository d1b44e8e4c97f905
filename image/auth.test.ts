import { describe, expect, it } from 'vitest';
import { parseChallenges, toUserSecret } from './auth.js';

describe('auth', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:library/busybox:pull' } },
    ]);
    expect(parseChallenges(['Basic realm="x y"', 'Bearer realm=r, error="invalid_token"'])).toEqual([
      { scheme: 'basic', params: { realm: 'x y' } },
      { scheme: 'bearer', params: { realm: 'r', error: 'invalid_token' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('turns each credential form into user + secret', () => {
    expect(toUserSecret({ username: 'u', password: 'p' })).toEqual({ user: 'u', secret: 'p' });
    expect(toUserSecret({ identityToken: 't' })).toEqual({ user: '', secret: 't' });
    expect(toUserSecret({ auth: Buffer.from('u:p:q\0\0').toString('base64') })).toEqual({ user: 'u', secret: 'p:q' });
    expect(() => toUserSecret({ auth: Buffer.from('nocolon').toString('base64') })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});
