import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultHost, resolveHosts } from './hosts.js';

let cfg: string;
beforeEach(async () => { cfg = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-hosts-unit-')); });
afterEach(async () => { await fs.rm(cfg, { recursive: true, force: true }); });

async function hostsToml(dir: string, text: string) {
  await fs.mkdir(path.join(cfg, dir), { recursive: true });
  await fs.writeFile(path.join(cfg, dir, 'hosts.toml'), text);
}

describe('registry hosts', () => {
  it('has containerd defaults', () => {
    expect(defaultHost('docker.io')).toMatchObject({ scheme: 'https', host: 'registry-1.docker.io', path: '/v2' });
    expect(defaultHost('localhost:5000')).toMatchObject({ scheme: 'http', skipVerify: true });
    expect(defaultHost('127.0.0.1:5000')).toMatchObject({ scheme: 'http' });
    expect(defaultHost('quay.io')).toMatchObject({ scheme: 'https', host: 'quay.io', capabilities: ['pull', 'resolve', 'push'] });
  });

  it('reads hosts in file order, then server, with capabilities, headers, ca and override_path', async () => {
    await fs.writeFile(path.join(cfg, 'ca.pem'), 'PEM');
    await hostsToml('docker.io', [
      'server = "https://registry-1.docker.io"',
      '[host."https://m2.example.com/base"]',
      '  capabilities = ["pull"]',
      '  skip_verify = true',
      '  ca = "../ca.pem"',
      '[host."http://m1.example.com:8080/custom/path"]',
      '  override_path = true',
      '  [host."http://m1.example.com:8080/custom/path".header]',
      '    x-one = "1"',
      '    x-many = ["a", "b"]',
    ].join('\n'));
    const hosts = await resolveHosts('docker.io', `/nonexistent:${cfg}`);
    expect(hosts.map((h) => `${h.scheme}://${h.host}${h.path}`)).toEqual([
      'https://m2.example.com/base/v2', 'http://m1.example.com:8080/custom/path', 'https://registry-1.docker.io/v2',
    ]);
    expect(hosts[0]).toMatchObject({ capabilities: ['pull'], skipVerify: true, ca: ['PEM'] });
    expect(hosts[1]!.headers).toEqual({ 'x-one': ['1'], 'x-many': ['a', 'b'] });
  });

  it('prefers the _port_ dir, then the host dir, then _default', async () => {
    await hostsToml('_default', 'server = "https://default.example"');
    await hostsToml('reg.example_5000_', 'server = "https://port.example"');
    expect((await resolveHosts('reg.example:5000', cfg))[0]!.host).toBe('port.example');
    expect((await resolveHosts('other.example', cfg))[0]!.host).toBe('default.example');
  });

  it('refuses unknown capabilities and bad TOML with InvalidArgument', async () => {
    await hostsToml('a.example', '[host."https://x"]\ncapabilities = ["fly"]');
    await expect(resolveHosts('a.example', cfg)).rejects.toMatchObject({ kind: 'invalid-argument' });
    await hostsToml('b.example', 'server = ');
    await expect(resolveHosts('b.example', cfg)).rejects.toMatchObject({ kind: 'invalid-argument' });
  });
});
