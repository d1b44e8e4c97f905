import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import {
  DEFAULT_CONFIG, configDump, formatDuration, loadConfig, parseConfig, parseDuration, resolveRuntime,
  type BerthConfig,
} from './index.js';

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The error a config load throws, checked to be an invalid-argument error. */
function loadError(text: string): string {
  try {
    parseConfig(text);
  } catch (err) {
    expect(isKind(err, 'invalid-argument')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

const CRI = '[plugins."io.containerd.grpc.v1.cri"';

describe('defaults', () => {
  it('are containerd 1.6 defaults on berth paths, frozen', async () => {
    const c = await loadConfig();
    expect(c.format).toBe('defaults');
    expect(c.root).toBe('/var/lib/berth');
    expect(c.state).toBe('/run/berth');
    expect(c.grpc.address).toBe('/run/berth/berth.sock');
    expect(c.ttrpc.address).toBe('/run/berth/berth.sock.ttrpc');
    expect(c.sandboxImage).toBe('registry.k8s.io/pause:3.9');
    expect(c.streamIdleTimeoutMs).toBe(4 * 3600 * 1000);
    expect(c.maxContainerLogLineSize).toBe(16384);
    expect(c.containerd.snapshotter).toBe('overlayfs');
    expect(c.containerd.defaultRuntimeName).toBe('runc');
    expect(c.containerd.runtimes.runc!.runtimeType).toBe('io.containerd.runc.v2');
    expect(c.containerd.runtimes.berth!.runtimeType).toBe('io.containerd.berth.v2');
    expect(c.cni).toEqual({ binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', maxConfNum: 1, confTemplate: '', ipPref: '' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.containerd.runtimes.runc!.options)).toBe(true);
    expect(() => { (c as { root: string }).root = '/x'; }).toThrow(TypeError);
  });

  it('overrides win over the file and move the ttrpc socket with the grpc socket', async () => {
    const c = await loadConfig(undefined, { grpc: { address: '/tmp/b.sock' }, debug: { level: 'debug' } });
    expect(c.grpc.address).toBe('/tmp/b.sock');
    expect(c.ttrpc.address).toBe('/tmp/b.sock.ttrpc');
    expect(c.debug.level).toBe('debug');
    expect(c.root).toBe('/var/lib/berth');
  });

  it('overrides can add a runtime and change runc options', async () => {
    const c = await loadConfig(undefined, {
      containerd: {
        defaultRuntimeName: 'crun',
        runtimes: {
          crun: { runtimeType: 'io.containerd.runc.v2', options: { binaryName: '/usr/bin/crun' } },
          runc: { options: { systemdCgroup: true } },
        },
      },
    });
    expect(resolveRuntime(c, '').options).toMatchObject({ binaryName: '/usr/bin/crun', systemdCgroup: false });
    expect(resolveRuntime(c, 'runc').options).toMatchObject({ binaryName: '', systemdCgroup: true });
    expect(resolveRuntime(c, 'berth').runtimeType).toBe('io.containerd.berth.v2');
    await expect(loadConfig(undefined, { containerd: { defaultRuntimeName: 'nope' } })).rejects.toMatchObject({
      kind: 'invalid-argument',
      message: 'config: containerd.default_runtime_name: "nope" names no runtime (configured: runc, berth)',
    });
  });
});

describe('berth format', () => {
  it('reads CRI keys at the top level and merges runtimes over the built-in ones', async () => {
    const file = path.join(dir, 'berth.toml');
    await writeFile(file, `
root = "/var/lib/b2"
sandbox_image = "localhost:5000/pause:1"
stream_server_port = 10010
stream_idle_timeout = "1h30m"
enable_unprivileged_ports = true

[grpc]
address = "/run/b2/b.sock"

[containerd]
default_runtime_name = "berth"

[containerd.runtimes.runc.options]
SystemdCgroup = true

[containerd.runtimes.berth]
container_annotations = ["io.berth.*"]

[cni]
conf_dir = "/etc/berth/net.d"
`);
    const c = await loadConfig(file);
    expect(c.format).toBe('berth');
    expect(c.source).toBe(file);
    expect(c.root).toBe('/var/lib/b2');
    expect(c.state).toBe('/run/berth');
    expect(c.ttrpc.address).toBe('/run/b2/b.sock.ttrpc');
    expect(c.streamServerPort).toBe(10010);
    expect(c.streamIdleTimeoutMs).toBe(90 * 60_000);
    expect(c.enableUnprivilegedPorts).toBe(true);
    expect(c.cni.confDir).toBe('/etc/berth/net.d');
    expect(c.cni.binDir).toBe('/opt/cni/bin');
    const runc = resolveRuntime(c, 'runc');
    expect(runc.options).toMatchObject({ systemdCgroup: true, binaryName: '' });
    const dflt = resolveRuntime(c, '');
    expect(dflt.handler).toBe('berth');
    expect(dflt.runtimeType).toBe('io.containerd.berth.v2');
    expect(dflt.containerAnnotations).toEqual(['io.berth.*']);
  });

  it('says when the file is missing or is not TOML', async () => {
    await expect(loadConfig(path.join(dir, 'nope.toml'))).rejects.toMatchObject({ kind: 'not-found' });
    expect(loadError('root = ')).toMatch(/^config: invalid TOML/);
  });
});

describe('containerd config.toml', () => {
  it('loads `containerd config default` output of 1.6.20 and maps it', async () => {
    const c = await loadConfig(path.join(testdata, 'containerd-1.6-default.toml'));
    expect(c.format).toBe('containerd');
    expect(c.root).toBe('/var/lib/containerd');
    expect(c.grpc.address).toBe('/run/containerd/containerd.sock');
    // empty ttrpc address = "<grpc address>.ttrpc", as containerd does
    expect(c.ttrpc.address).toBe('/run/containerd/containerd.sock.ttrpc');
    expect(c.debug.level).toBe('info');
    expect(c.sandboxImage).toBe('registry.k8s.io/pause:3.6');
    expect(c.streamServerPort).toBe(0);
    expect(c.streamIdleTimeoutMs).toBe(4 * 3600_000);
    expect(c.selinuxCategoryRange).toBe(1024);
    expect(c.disableHugetlbController).toBe(true);
    expect(c.containerd.disableSnapshotAnnotations).toBe(true);
    expect(c.imageDecryption.keyModel).toBe('node');
    // the default runc runtime as containerd writes it, plus berth's built-in handler
    expect(Object.keys(c.containerd.runtimes).sort()).toEqual(['berth', 'runc']);
    expect(resolveRuntime(c, '').runtimeType).toBe('io.containerd.runc.v2');
    expect(resolveRuntime(c, 'runc').options).toEqual(DEFAULT_CONFIG.containerd.runtimes.runc!.options);
    expect(c.ignored).toEqual(expect.arrayContaining([
      'oom_score',
      'grpc.max_recv_message_size',
      'plugins."io.containerd.gc.v1.scheduler"',
      'plugins."io.containerd.grpc.v1.cri".disable_tcp_service',
      'plugins."io.containerd.grpc.v1.cri".containerd.untrusted_workload_runtime',
      'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.runtime_engine',
      'stream_processors',
    ]));
  });

  it('maps an edited file: runc options, new runtimes, opaque options, other plugins ignored', async () => {
    const c = await loadConfig(path.join(testdata, 'containerd-custom.toml'));
    expect(c.root).toBe('/var/lib/berth-test');
    expect(c.grpc.address).toBe('/run/berth-test/berth.sock');
    expect(c.ttrpc.address).toBe('/run/berth-test/berth.sock.ttrpc');
    expect(c.debug.level).toBe('debug');
    expect(c.streamIdleTimeoutMs).toBe(30 * 60_000);
    expect(c.maxContainerLogLineSize).toBe(-1);
    expect(c.cni.binDir).toBe('/usr/lib/cni');
    expect(c.registry.configPath).toBe('/etc/berth/certs.d:/etc/docker/certs.d');
    const runc = resolveRuntime(c, 'runc');
    expect(runc.runtimeType).toBe('io.containerd.runc.v2');
    expect(runc.options).toMatchObject({ systemdCgroup: true, binaryName: '/usr/sbin/runc', noPivotRoot: false });
    const crun = resolveRuntime(c, '');
    expect(crun.handler).toBe('crun');
    expect(crun.options).toMatchObject({ binaryName: '/usr/bin/crun', systemdCgroup: false });
    expect(crun.podAnnotations).toEqual(['io.kubernetes.cri.*']);
    const kata = resolveRuntime(c, 'kata');
    expect(kata.options).toEqual({ ConfigPath: '/etc/kata/configuration.toml' });
    expect(kata.privilegedWithoutHostDevices).toBe(true);
    expect(c.ignored).toEqual(['oom_score', 'grpc.max_recv_message_size', 'plugins."io.containerd.internal.v1.opt"']);
  });

  it('refuses version 1 files', () => {
    expect(loadError('[plugins.cri]\nsandbox_image = "x"')).toMatch(/^config: version: .*version 2.*got 1/);
  });
});

describe('validation names the full dotted key', () => {
  it('wrong type', () => {
    expect(loadError(`version = 2\n${CRI}.containerd.runtimes.runc.options]\nSystemdCgroup = "true"\n`)).toBe(
      'config: plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup: expected boolean, got string',
    );
    expect(loadError('max_concurrent_downloads = 1.5')).toBe('config: max_concurrent_downloads: expected integer, got float');
    expect(loadError('[cni]\nbin_dir = ["/a"]')).toBe('config: cni.bin_dir: expected string, got array');
    expect(loadError('[containerd.runtimes.x]\npod_annotations = ["a", 1]\nruntime_type = "io.containerd.runc.v2"'))
      .toBe('config: containerd.runtimes.x.pod_annotations[1]: expected string, got integer');
  });

  it('unknown key, in either format', () => {
    expect(loadError(`version = 2\n${CRI}.cni]\nbin_dirs = "/x"\n`)).toMatch(
      /^config: plugins."io.containerd.grpc.v1.cri".cni.bin_dirs: unknown key \(known keys: bin_dir, /,
    );
    expect(loadError('sandbox_imag = "x"')).toMatch(/^config: sandbox_imag: unknown key/);
    expect(loadError('[containerd.runtimes.runc.options]\nSystemdCGroup = true')).toMatch(
      /^config: containerd.runtimes.runc.options.SystemdCGroup: unknown key/,
    );
  });

  it('keys named like Object.prototype members are unknown keys, not silently accepted or lost', () => {
    expect(loadError('constructor = 1')).toMatch(/^config: constructor: unknown key/);
    expect(loadError('toString = "x"')).toMatch(/^config: toString: unknown key/);
    expect(loadError('[containerd]\nhasOwnProperty = 2')).toMatch(/^config: containerd.hasOwnProperty: unknown key/);
    expect(loadError('__proto__ = { a = 1 }')).toMatch(/^config: __proto__: unknown key/);
    expect(loadError('[containerd.runtimes.__proto__]\nruntime_type = "io.containerd.runc.v2"')).toMatch(
      /^config: containerd.runtimes.__proto__: reserved name/,
    );
  });

  it('bad duration', () => {
    expect(loadError('stream_idle_timeout = "4 hours"')).toMatch(/^config: stream_idle_timeout: invalid duration "4 hours"/);
    expect(loadError(`version = 2\n${CRI}]\nstream_idle_timeout = 14400\n`)).toBe(
      'config: plugins."io.containerd.grpc.v1.cri".stream_idle_timeout: expected duration string like "4h0m0s", got integer',
    );
  });

  it('default runtime that names no runtime; new runtime without a type', () => {
    expect(loadError(`version = 2\n${CRI}.containerd]\ndefault_runtime_name = "kata"\n`)).toBe(
      'config: plugins."io.containerd.grpc.v1.cri".containerd.default_runtime_name: "kata" names no runtime (configured: runc, berth)',
    );
    expect(loadError('[containerd.runtimes.gvisor]\nruntime_path = "/x"')).toBe(
      'config: containerd.runtimes.gvisor.runtime_type: required for a new runtime',
    );
  });

  it('out of range values and relative paths', () => {
    expect(loadError('stream_server_port = "70000"')).toBe('config: stream_server_port: port must be 0-65535, got 70000');
    expect(loadError('state = "run/berth"')).toBe('config: state: expected an absolute path, got "run/berth"');
    expect(loadError('[debug]\nlevel = "loud"')).toMatch(/^config: debug.level: expected one of trace, debug, info/);
  });
});

describe('resolveRuntime', () => {
  it('unknown handler is NotFound', async () => {
    const c = await loadConfig();
    expect(() => resolveRuntime(c, 'kata')).toThrow('no runtime for "kata" is configured');
    expect(() => resolveRuntime(c, 'toString')).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });
});

describe('configDump', () => {
  const roundTrip = async (c: BerthConfig): Promise<BerthConfig> => {
    const file = path.join(dir, `dump-${Math.random().toString(36).slice(2)}.toml`);
    await writeFile(file, configDump(c));
    return loadConfig(file);
  };
  const facts = ({ format: _f, source: _s, ignored: _i, ...rest }: BerthConfig) => rest;

  it('the defaults round-trip through loadConfig', async () => {
    const back = await roundTrip(DEFAULT_CONFIG);
    expect(back.format).toBe('berth');
    expect(back.ignored).toEqual([]);
    expect(facts(back)).toEqual(facts(DEFAULT_CONFIG));
    expect(configDump(DEFAULT_CONFIG)).toContain('stream_idle_timeout = "4h0m0s"');
    expect(configDump(DEFAULT_CONFIG)).toContain('[containerd.runtimes.runc.options]');
  });

  it('a loaded containerd file round-trips in berth format', async () => {
    const c = await loadConfig(path.join(testdata, 'containerd-custom.toml'));
    expect(facts(await roundTrip(c))).toEqual(facts(c));
  });
});

describe('durations', () => {
  it('parse and format like Go', () => {
    expect(parseDuration('4h0m0s')).toBe(14_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('300ms')).toBe(300);
    expect(parseDuration('2us')).toBe(0.002);
    expect(parseDuration('0')).toBe(0);
    expect(() => parseDuration('')).toThrow(/invalid duration/);
    expect(() => parseDuration('5')).toThrow(/invalid duration/);
    expect(formatDuration(14_400_000)).toBe('4h0m0s');
    expect(formatDuration(60_000)).toBe('1m0s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(300)).toBe('300ms');
    expect(formatDuration(0.0015)).toBe('1.5µs');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(3_723_500)).toBe('1h2m3.5s');
  });
});

describe('keys berth would not honour are refused, naming the key', () => {
  it('refuses each inert containerd key set to a value that asks for something, in both formats', () => {
    const cases: Array<[string, string]> = [
      ['enable_tls_streaming = true', 'enable_tls_streaming'],
      ['[x509_key_pair_streaming]\ntls_cert_file = "/etc/berth/tls.crt"', 'x509_key_pair_streaming.tls_cert_file'],
      ['[x509_key_pair_streaming]\ntls_key_file = "/etc/berth/tls.key"', 'x509_key_pair_streaming.tls_key_file'],
      ['unset_seccomp_profile = "runtime/default"', 'unset_seccomp_profile'],
      ['disable_proc_mount = true', 'disable_proc_mount'],
      ['[registry.mirrors."docker.io"]\nendpoint = ["http://127.0.0.1:5000"]', 'registry.mirrors'],
      ['[registry.configs."r.example".auth]\nusername = "u"\npassword = "p"', 'registry.configs'],
      ['[registry.configs."r.example".tls]\ninsecure_skip_verify = true', 'registry.configs'],
      ['[registry.headers]\nX-Meta = ["v"]', 'registry.headers'],
      ['disable_cgroup = true', 'disable_cgroup'],
      ['device_ownership_from_security_context = true', 'device_ownership_from_security_context'],
      ['[containerd]\ndiscard_unpacked_layers = true', 'containerd.discard_unpacked_layers'],
      ['[containerd]\nno_pivot = true', 'containerd.no_pivot'],
      ['[containerd]\ndisable_snapshot_annotations = false', 'containerd.disable_snapshot_annotations'],
      ['[cni]\nconf_template = "/etc/cni/template"', 'cni.conf_template'],
      ['[image_decryption]\nkey_model = "ocicrypt"', 'image_decryption.key_model'],
    ];
    for (const [text, key] of cases) {
      expect(loadError(text)).toMatch(new RegExp(`^config: ${key.replace(/\./g, '\\.')}: not supported by berth \\(`));
      const [first, ...rest] = text.split('\n');
      const containerd = first!.startsWith('[')
        ? `version = 2\n${CRI}.${first!.slice(1)}\n${rest.join('\n')}`
        : `version = 2\n${CRI}]\n${text}`;
      expect(loadError(containerd)).toContain(`plugins."io.containerd.grpc.v1.cri".${key}: not supported by berth`);
    }
  });

  it('accepts the inert defaults, so `containerd config default` output still loads', async () => {
    const c = await loadConfig(path.join(testdata, 'containerd-1.6-default.toml'));
    expect(c.enableTlsStreaming).toBe(false);
    expect(c.registry.mirrors).toEqual({});
    expect(parseConfig('enable_tls_streaming = false\ndisable_proc_mount = false\nunset_seccomp_profile = ""').format).toBe('berth');
  });

  it('enable_selinux is refused only where the host has SELinux (elsewhere containerd labels nothing either)', () => {
    if (existsSync('/sys/fs/selinux/enforce')) expect(loadError('enable_selinux = true')).toMatch(/^config: enable_selinux: not supported by berth/);
    else expect(parseConfig('enable_selinux = true\nselinux_category_range = 512').enableSelinux).toBe(true);
  });

  it('max_container_log_line_size: a positive size or -1 (no limit), as containerd documents; 0 and other negatives refused', () => {
    expect(parseConfig('max_container_log_line_size = -1').maxContainerLogLineSize).toBe(-1);
    expect(parseConfig('max_container_log_line_size = 1').maxContainerLogLineSize).toBe(1);
    for (const bad of [0, -2, -16384]) {
      expect(loadError(`max_container_log_line_size = ${bad}`)).toBe(
        `config: max_container_log_line_size: must be a positive size in bytes or -1 (no limit), got ${bad}`,
      );
    }
  });
});
