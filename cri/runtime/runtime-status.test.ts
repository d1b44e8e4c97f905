// RuntimeConfig's cgroup driver and Status's runtime handlers, from configs read by the real
// config loader, chosen as containerd 2.x chooses them.
import { describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import { parseConfig } from '../config/index.js';
import { runtimeConfig, runtimeHandlers } from './runtime-status.js';

const { SYSTEMD, CGROUPFS } = runtime.v1.CgroupDriver;
const driver = (toml: string, systemdRunning = false) => runtimeConfig({ config: parseConfig(toml) }, () => systemdRunning).linux!.cgroupDriver;

describe('RuntimeConfig cgroup driver', () => {
  it('is the default handler runc options SystemdCgroup: CGROUPFS unless it is true', () => {
    expect(driver('', true)).toBe(CGROUPFS);
    expect(driver('[containerd.runtimes.runc.options]\nSystemdCgroup = true\n')).toBe(SYSTEMD);
    expect(driver('[containerd.runtimes.runc.options]\nSystemdCgroup = false\n', true)).toBe(CGROUPFS);
  });

  it('asks the default handler first, then the others by name', () => {
    // berth (the default) says systemd while runc says cgroupfs
    expect(driver('[containerd]\ndefault_runtime_name = "berth"\n[containerd.runtimes.berth.options]\nSystemdCgroup = true\n')).toBe(SYSTEMD);
    // a default without runc options passes to the next handler with them, by name: "a-runc" before "runc"
    expect(driver([
      '[containerd]', 'default_runtime_name = "kata"', '[containerd.runtimes.kata]', 'runtime_type = "io.containerd.kata.v2"',
      '[containerd.runtimes.a-runc]', 'runtime_type = "io.containerd.runc.v2"', '[containerd.runtimes.a-runc.options]', 'SystemdCgroup = true',
    ].join('\n'))).toBe(SYSTEMD);
  });

  it('with no handler taking runc options, is SYSTEMD only where systemd runs', () => {
    const cfg = parseConfig('[containerd]\ndefault_runtime_name = "kata"\n[containerd.runtimes.kata]\nruntime_type = "io.containerd.kata.v2"\n');
    expect(runtimeConfig({ config: cfg }, () => true).linux!.cgroupDriver).toBe(CGROUPFS); // the built-in runc still has runc options
    const kataOnly = { ...cfg, containerd: { ...cfg.containerd, runtimes: { kata: cfg.containerd.runtimes.kata! } } };
    expect(runtimeConfig({ config: kataOnly }, () => true).linux!.cgroupDriver).toBe(SYSTEMD);
    expect(runtimeConfig({ config: kataOnly }, () => false).linux!.cgroupDriver).toBe(CGROUPFS);
  });
});

describe('Status runtime handlers', () => {
  it('lists each configured handler by name and the default one again as "", rro where runc runs and the kernel has mount_setattr, user namespaces where runc runs', () => {
    const rro = { recursiveReadOnlyMounts: true, userNamespaces: true };
    const off = { recursiveReadOnlyMounts: false, userNamespaces: true };
    const kernel = { recursiveReadOnlyMounts: true };
    expect(runtimeHandlers(parseConfig(''), kernel)).toEqual([
      { name: 'berth', features: rro }, { name: 'runc', features: rro }, { name: '', features: rro },
    ]);
    // an old kernel (no mount_setattr): no handler can
    expect(runtimeHandlers(parseConfig(''), { recursiveReadOnlyMounts: false }).map((h) => h.features)).toEqual([off, off, off]);
    // a handler that does not run runc (kata) is not staged for: off
    const withKata = parseConfig('[containerd]\ndefault_runtime_name = "kata"\n[containerd.runtimes.kata]\nruntime_type = "io.containerd.kata.v2"\n');
    expect(runtimeHandlers(withKata, kernel).map((h) => [h.name, h.features?.recursiveReadOnlyMounts])).toEqual([
      ['berth', true], ['kata', false], ['', false], ['runc', true],
    ]);
    expect(runtimeHandlers(withKata, kernel).map((h) => [h.name, h.features?.userNamespaces])).toEqual([['berth', true], ['kata', false], ['', false], ['runc', true]]);
  });
});
