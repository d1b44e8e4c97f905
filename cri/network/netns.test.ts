// pinNamespaces with the real kernel (root): new net/IPC/UTS namespaces pinned at their files,
// hostname and sysctls set inside them only, lo up; unpinned by removeNetns/removePodNamespaces;
// sysctl names that would climb out of /proc/sys refused.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { isNetns, netnsPath, pinNamespaces, podNamespacePaths, removeNetns, removePodNamespaces, sysctlPath } from './netns.js';

let dir = '';
beforeEach(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'berth-pin-')); });
afterEach(async () => {
  await removePodNamespaces(dir, 'pod1');
  await removeNetns(netnsPath(dir, 'pod1'));
  await rm(dir, { recursive: true, force: true });
});

/** Runs `cmd` inside the pinned namespaces (util-linux nsenter). */
const inside = (p: { net: string; ipc: string; uts: string }, ...cmd: string[]) =>
  execFileSync('nsenter', [`--net=${p.net}`, `--ipc=${p.ipc}`, `--uts=${p.uts}`, ...cmd], { encoding: 'utf8' }).trim();

describe('pinNamespaces', () => {
  it('pins new net, IPC and UTS namespaces with the hostname and sysctls set inside them only', async () => {
    const p = { net: netnsPath(dir, 'pod1'), ...podNamespacePaths(dir, 'pod1') };
    const hostShmmni = readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim();
    await pinNamespaces({ ...p, hostname: 'pod-one', sysctls: { 'net.ipv4.ip_unprivileged_port_start': '77', 'kernel.shmmni': '999' } });
    for (const f of [p.net, p.ipc, p.uts]) expect(isNetns(f)).toBe(true);
    expect(inside(p, 'hostname')).toBe('pod-one');
    expect(inside(p, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).toBe('77');
    expect(inside(p, 'cat', '/proc/sys/kernel/shmmni')).toBe('999');
    expect(inside(p, 'ip', '-o', 'link', 'show', 'lo')).toContain('UP');
    expect(inside(p, 'readlink', '/proc/self/ns/ipc')).not.toBe(readlinkSync('/proc/self/ns/ipc'));
    expect([os.hostname(), readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim()]).not.toContain('pod-one');
    expect(readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim()).toBe(hostShmmni);
    await removePodNamespaces(dir, 'pod1');
    await removeNetns(p.net);
    expect([p.net, p.ipc, p.uts].map(existsSync)).toEqual([false, false, false]);
  });

  it('refuses a file that exists, and a sysctl that fails, leaving nothing pinned', async () => {
    const p = podNamespacePaths(dir, 'pod1');
    await pinNamespaces({ ipc: p.ipc });
    await expect(pinNamespaces({ ipc: p.ipc })).rejects.toSatisfy((e) => isKind(e, 'already-exists'));
    await removePodNamespaces(dir, 'pod1');
    await expect(pinNamespaces({ ...p, sysctls: { 'kernel.no_such_sysctl': '1' } })).rejects.toSatisfy((e) => isKind(e, 'internal'));
    expect([existsSync(p.ipc), existsSync(p.uts)]).toEqual([false, false]);
  });

  it('maps sysctl names to /proc/sys paths and refuses one that climbs out', () => {
    expect(sysctlPath('net.ipv4.conf.eth0/100.forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.100/forwarding');
    expect(() => sysctlPath('net.//.vm.drop_caches')).toThrow(/not a sysctl name/);
    expect(() => sysctlPath('net..x')).toThrow(/not a sysctl name/);
  });
});
