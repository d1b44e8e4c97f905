import { describe, expect, it } from 'vitest';
import { isKind } from '../common/index.js';
import { normalizeReference, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.28', 'docker.io/library/busybox:1.28'],
    ['index.docker.io/foo/bar', 'docker.io/foo/bar:latest'],
    ['foo/bar', 'docker.io/foo/bar:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['127.0.0.1:5000/pause:3.9', '127.0.0.1:5000/pause:3.9'],
    [`myreg:5000/a/b@${D}`, `myreg:5000/a/b@${D}`],
    [`busybox:1.28@${D}`, `docker.io/library/busybox@${D}`],
    ['a.b/c__d/e--f.g_h:T_1.x-y', 'a.b/c__d/e--f.g_h:T_1.x-y'],
  ])('normalises %s', (input, out) => {
    expect(normalizeReference(input)).toBe(out);
  });

  it('splits host, path, tag and digest', () => {
    expect(parseReference('127.0.0.1:5000/a/b:v1')).toEqual({ domain: '127.0.0.1:5000', path: 'a/b', tag: 'v1' });
    expect(parseReference(`x.io/a@${D}`)).toEqual({ domain: 'x.io', path: 'a', digest: D });
  });

  it.each([
    ['Busybox', /lowercase/],
    ['', /empty/],
    ['a'.repeat(64).replace(/a/g, 'f'), /64-byte/],
    ['busybox@sha256:abc', /digest/],
    ['busybox:', /tag/],
    ['busy box', /invalid/],
    ['-x/y', /invalid/],
    ['x/:tag', /invalid/],
    [`busybox@sha256:${'A'.repeat(64)}`, /sha256/],
  ])('refuses %j with InvalidArgument', (input, msg) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect(String((err as Error).message)).toMatch(msg);
  });
});
