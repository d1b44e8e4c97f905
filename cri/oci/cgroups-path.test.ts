// linux.cgroupsPath for the cgroupfs and systemd cgroup drivers (docs/oci-spec.md): the form runc
// takes with and without --systemd-cgroup (the runc option SystemdCgroup), as containerd makes it.
import { describe, expect, it } from 'vitest';
import { resolveCgroupPath } from '../../sys/index.js';
import { cgroupsPath, usesSystemdCgroup } from './container-spec.js';
import { sandboxSpec } from './sandbox-spec.js';
import { fakeHost } from '../../test/helpers/fake-host.js';

describe('cgroupsPath', () => {
  it('gives a cgroupfs parent a path and a systemd slice parent slice:cri-containerd:id', () => {
    expect(cgroupsPath('/kubepods/burstable/pod1', 'abc')).toBe('/kubepods/burstable/pod1/abc');
    const systemd = cgroupsPath('kubepods-burstable-pod1_2.slice', 'abc', true);
    expect(systemd).toBe('kubepods-burstable-pod1_2.slice:cri-containerd:abc');
    // where runc's systemd driver puts it, and where berth reads the pod's stats
    expect(resolveCgroupPath(systemd)).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/cri-containerd-abc.scope');
    // containerd looks at the slice suffix, with or without the option
    expect(cgroupsPath('kubepods-pod1.slice', 'abc')).toBe('kubepods-pod1.slice:cri-containerd:abc');
  });

  it('with SystemdCgroup: no parent is system.slice, a cgroupfs parent is refused', () => {
    expect(cgroupsPath('', 'abc', true)).toBe('system.slice:cri-containerd:abc');
    expect(() => cgroupsPath('/kubepods/pod1', 'abc', true)).toThrow(expect.objectContaining({ kind: 'invalid-argument', message: expect.stringMatching(/cgroup-driver=systemd/) }));
  });

  it('reads SystemdCgroup from the handler options', () => {
    expect(usesSystemdCgroup({ options: { systemdCgroup: true } })).toBe(true);
    expect(usesSystemdCgroup({ options: { systemdCgroup: false } })).toBe(false);
    expect(usesSystemdCgroup({})).toBe(false);
    expect(usesSystemdCgroup(undefined)).toBe(false);
  });
});

describe('the sandbox spec', () => {
  const spec = (cgroupParent: string | undefined, options: object) => sandboxSpec({
    id: 's1', config: { metadata: { name: 'p', uid: 'u-1', namespace: 'ns' }, ...(cgroupParent !== undefined ? { linux: { cgroupParent } } : {}) },
    imageConfig: { Entrypoint: ['/pause'] }, netnsPath: '/var/run/netns/cni-1', host: fakeHost({ oomScoreAdj: 0 }), runtime: { options },
  }).linux.cgroupsPath;

  it('takes the systemd form from the handler SystemdCgroup option', () => {
    expect(spec('kubepods-besteffort-podu_1.slice', { systemdCgroup: true })).toBe('kubepods-besteffort-podu_1.slice:cri-containerd:s1');
    expect(spec(undefined, { systemdCgroup: true })).toBe('system.slice:cri-containerd:s1');
    expect(spec(undefined, {})).toBe('/k8s.io/s1');
    expect(() => spec('/kubepods/besteffort/podu-1', { systemdCgroup: true })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});
