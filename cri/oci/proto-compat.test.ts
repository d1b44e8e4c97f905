// The generated runtime.v1 types must be accepted as inputs as they are (checked by tsc).
import { describe, expect, it } from 'vitest';
import { runtime } from '../../proto/cri.js';
import type { CriContainerConfig, CriLinuxContainerResources, CriPodSandboxConfig } from './types.js';
import { containerSpec } from './container-spec.js';
import { fakeHost } from '../../test/helpers/fake-host.js';

describe('generated CRI types', () => {
  it('are assignable to the inputs and decode into a spec', () => {
    const wire = runtime.v1.ContainerConfig.encode(runtime.v1.ContainerConfig.create({
      metadata: { name: 'c' }, command: ['/bin/true'],
      linux: { securityContext: { namespaceOptions: { pid: runtime.v1.NamespaceMode.CONTAINER }, runAsUser: { value: 5 } } },
    })).finish();
    const config: CriContainerConfig = runtime.v1.ContainerConfig.decode(wire);
    const pod: CriPodSandboxConfig = runtime.v1.PodSandboxConfig.create({ metadata: { name: 'p' } });
    const res: CriLinuxContainerResources = runtime.v1.LinuxContainerResources.create({ cpuShares: 3 });
    const s = containerSpec({
      id: 'x', sandboxId: 's', sandboxPid: 1, config: { ...config, linux: { ...config.linux, resources: res } }, sandboxConfig: pod,
      imageConfig: {}, imageName: 'i', rootfs: '/nonexistent', host: fakeHost(),
    });
    expect(s.process.args).toEqual(['/bin/true']);
    expect(s.process.user.uid).toBe(5);
    expect(s.linux.namespaces?.[0]).toEqual({ type: 'pid' });
    expect(s.linux.resources?.cpu?.shares).toBe(3);
  });
});
