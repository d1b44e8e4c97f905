import { describe, expect, it } from 'vitest';
import { isBerthError } from '../common/index.js';
import { parseFlags, serverArgv } from './flags.js';
import { groupKey, shimSocketAddress } from './socket-address.js';

describe('parseFlags (Go flag syntax)', () => {
  it('reads containerd 1.6 start argv and re-execs without the action word', () => {
    const argv = ['-namespace', 'k8s.io', '-address', '/run/containerd/containerd.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'start', '-debug', 'start'];
    const f = parseFlags(argv);
    expect(f).toMatchObject({ namespace: 'k8s.io', id: 'start', debug: true, action: 'start', publishBinary: '/usr/bin/containerd' });
    // the id "start" survives: only the action word is dropped
    expect(serverArgv(f)).toEqual(argv.slice(0, -1));
  });

  it('accepts --x, -x=value, booleans with values, -v, and no action = serve', () => {
    expect(parseFlags(['--namespace=ns', '--id', 'a', '-debug=false', '-bundle', '/b'])).toMatchObject({
      namespace: 'ns', id: 'a', debug: false, bundle: '/b', action: 'serve', actionIndex: -1,
    });
    expect(parseFlags(['-v']).version).toBe(true);
    expect(parseFlags(['-namespace', 'n', 'delete']).action).toBe('delete');
    expect(parseFlags(['-socket', '/tmp/x.sock']).socket).toBe('/tmp/x.sock');
  });

  it('refuses unknown flags, missing values and unknown actions with InvalidArgument', () => {
    for (const argv of [['-nope'], ['-namespace'], ['-namespace', 'n', 'frobnicate'], ['-debug=maybe']]) {
      let err: unknown;
      try {
        parseFlags(argv);
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err) && err.kind).toBe('invalid-argument');
    }
  });
});

describe('socket address (runc shim formula)', () => {
  it('hashes join(address, ns, key) like containerd-shim-runc-v2 (its socket for this address, namespace and key)', () => {
    expect(shimSocketAddress('/run/containerd/containerd.sock', 'k8s.io', 'abc', '/run/containerd/s')).toBe(
      'unix:///run/containerd/s/a99a1752d3a0fadfb1f869026f16760475df03a572e20f4ccea9e6c1e5470b72',
    );
  });

  it('groups by io.containerd.runc.v2.group, then the CRI sandbox id, else the task id', () => {
    expect(groupKey({ 'io.containerd.runc.v2.group': 'g', 'io.kubernetes.cri.sandbox-id': 's' }, 'id')).toBe('g');
    expect(groupKey({ 'io.kubernetes.cri.sandbox-id': 's' }, 'id')).toBe('s');
    expect(groupKey({}, 'id')).toBe('id');
    expect(groupKey(undefined, 'id')).toBe('id');
  });
});
