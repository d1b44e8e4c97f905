// A HostInfo for the cri/oci unit tests: fixed facts, no reads of the real host.
import { CAPABILITY_NAMES } from '../../cri/oci/capabilities.js';
import type { HostInfo, MountInfoEntry } from '../../cri/oci/index.js';

export function fakeHost(over: Partial<HostInfo> & { mounts?: MountInfoEntry[] } = {}): HostInfo {
  const mounts = over.mounts ?? [{ mountPoint: '/', optional: '' }];
  return {
    capabilities: CAPABILITY_NAMES.filter((c) => c !== 'CAP_SYS_RESOURCE'),
    oomScoreAdj: 0,
    apparmorEnabled: false,
    apparmorProfilesFile: '/nonexistent/apparmor/profiles',
    selinuxEnabled: false,
    hugetlbAvailable: true,
    swapAvailable: true,
    hostname: 'node-1',
    recursiveReadOnlyMounts: true,
    lookupMount: (p) => {
      const hit = [...mounts].sort((a, b) => b.mountPoint.length - a.mountPoint.length)
        .find((m) => m.mountPoint === '/' || p === m.mountPoint || p.startsWith(`${m.mountPoint}/`));
      if (!hit) throw new Error(`no mount for ${p}`);
      return hit;
    },
    hostDevices: () => [{ type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }],
    ...over,
  };
}
