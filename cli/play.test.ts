// berthctl play, planning only: Pod manifests → the CRI requests kubelet would send, and the
// refusals (each names the field). Running plans against a daemon is in cri-berthctl.test.ts.
import { describe, expect, it } from 'vitest';
import { runtime } from '../proto/cri.js';
import { loadPods, planPods } from './play.js';

const v1 = runtime.v1;
const opts = { logRoot: '/var/log/pods', volumeRoot: '/var/lib/berthctl/pods', newUid: () => 'uid-1' };
const plan = async (yaml: string) => planPods(await loadPods(yaml), opts);

const POD = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: { app: web }
spec:
  shareProcessNamespace: true
  securityContext: { runAsUser: 1000, supplementalGroups: [5], sysctls: [{ name: net.ipv4.ping_group_range, value: "0 1" }] }
  volumes:
    - name: data
      emptyDir: {}
    - name: host
      hostPath: { path: /srv/x/../y, type: DirectoryOrCreate }
  initContainers:
    - name: setup
      image: registry.local/busybox:1.36
      command: [sh, -c, "echo hi > /data/f"]
      volumeMounts: [{ name: data, mountPath: /data }]
  containers:
    - name: main
      image: busybox
      args: [cat, /data/f]
      env: [{ name: A, value: "1" }]
      ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81 }]
      resources: { requests: { cpu: 250m }, limits: { cpu: "1", memory: 64Mi } }
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: [NET_ADMIN], drop: [ALL] } }
      volumeMounts:
        - { name: data, mountPath: /data, readOnly: true }
        - { name: host, mountPath: /h, subPath: sub, mountPropagation: HostToContainer }
`;

describe('berthctl play: planning', () => {
  it('maps a Pod to RunPodSandbox + CreateContainer requests as kubelet does', async () => {
    const [p] = await plan(POD);
    expect(p).toMatchObject({ name: 'web', namespace: 'default', uid: 'uid-1', emptyDirs: ['/var/lib/berthctl/pods/uid-1/volumes/data'], createDirs: ['/srv/y'] });
    expect(p!.sandbox).toMatchObject({
      metadata: { name: 'web', namespace: 'default', uid: 'uid-1', attempt: 0 },
      hostname: 'web',
      logDirectory: '/var/log/pods/default_web_uid-1',
      portMappings: [{ protocol: v1.Protocol.TCP, containerPort: 80, hostPort: 8080, hostIp: '' }],
      labels: { app: 'web', 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': 'uid-1' },
      linux: { sysctls: { 'net.ipv4.ping_group_range': '0 1' }, securityContext: { runAsUser: { value: 1000 }, supplementalGroups: [5] } },
    });
    expect(p!.containers.map((c) => [c.name, c.init, c.pullPolicy])).toEqual([['setup', true, 'IfNotPresent'], ['main', false, 'Always']]);
    const main = p!.containers[1]!.config;
    expect(main).toMatchObject({
      metadata: { name: 'main', attempt: 0 }, image: { image: 'busybox' }, command: [], args: ['cat', '/data/f'], logPath: 'main/0.log',
      envs: [{ key: 'A', value: '1' }],
      mounts: [
        { containerPath: '/data', hostPath: '/var/lib/berthctl/pods/uid-1/volumes/data', readonly: true, propagation: v1.MountPropagation.PROPAGATION_PRIVATE },
        { containerPath: '/h', hostPath: '/srv/y/sub', readonly: false, propagation: v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER },
      ],
      labels: { 'io.kubernetes.container.name': 'main', 'io.kubernetes.pod.uid': 'uid-1' },
    });
    expect(main.linux!.resources).toEqual({ cpuShares: 256, cpuPeriod: 100_000, cpuQuota: 100_000, memoryLimitInBytes: 64 * 1024 * 1024 });
    expect(main.linux!.securityContext).toMatchObject({
      readonlyRootfs: true, noNewPrivs: true, runAsUser: { value: 1000 },
      capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
      seccomp: { profileType: v1.SecurityProfile.ProfileType.Unconfined },
      namespaceOptions: { network: v1.NamespaceMode.POD, pid: v1.NamespaceMode.POD, ipc: v1.NamespaceMode.POD },
    });
  });

  it('host namespaces, several documents, explicit namespace and uid', async () => {
    const plans = await plan(`
apiVersion: v1
kind: Pod
metadata: { name: a, namespace: team, uid: fixed-uid }
spec: { hostNetwork: true, hostPID: true, containers: [{ name: c, image: x:1 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: b }
spec: { containers: [{ name: c, image: "x@sha256:${'a'.repeat(64)}", imagePullPolicy: Never }] }
`);
    expect(plans.map((p) => `${p.namespace}/${p.name}/${p.uid}`)).toEqual(['team/a/fixed-uid', 'default/b/uid-1']);
    expect(plans[0]!.sandbox.hostname).toBe('');
    expect(plans[0]!.sandbox.linux!.securityContext!.namespaceOptions).toMatchObject({ network: v1.NamespaceMode.NODE, pid: v1.NamespaceMode.NODE });
    expect(plans[0]!.containers[0]!.config.linux!.securityContext!.namespaceOptions!.pid).toBe(v1.NamespaceMode.NODE);
    expect(plans[1]!.containers[0]!.pullPolicy).toBe('Never');
  });

  const refused: [string, string, RegExp][] = [
    ['a Deployment', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }', /only v1 Pod/],
    ['no containers', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [] }', /spec.containers is empty/],
    ['a bad pod name', 'apiVersion: v1\nkind: Pod\nmetadata: { name: "../x" }\nspec: { containers: [{ name: c, image: i }] }', /not a DNS subdomain/],
    ['a bad uid', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, uid: "../../etc" }\nspec: { containers: [{ name: c, image: i }] }', /metadata.uid/],
    ['no image', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c }] }', /containers\[0\]: image is required/],
    ['env valueFrom', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c, image: i, env: [{ name: X, valueFrom: { fieldRef: { fieldPath: metadata.name } } }] }] }', /X: valueFrom is not supported/],
    ['a configMap volume', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { volumes: [{ name: v, configMap: { name: m } }], containers: [{ name: c, image: i }] }', /volume source configMap is not supported/],
    ['an unknown volume', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c, image: i, volumeMounts: [{ name: v, mountPath: /v }] }] }', /volume "v" is not defined/],
    ['an escaping subPath', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { volumes: [{ name: v, emptyDir: {} }], containers: [{ name: c, image: i, volumeMounts: [{ name: v, mountPath: /v, subPath: ../../x }] }] }', /escapes the volume/],
    ['a duplicate container', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { initContainers: [{ name: c, image: i }], containers: [{ name: c, image: i }] }', /duplicate container name c/],
    ['a bad quantity', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c, image: i, resources: { limits: { memory: lots } } }] }', /limits.memory: bad quantity/],
    ['runAsNonRoot with uid 0', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { securityContext: { runAsNonRoot: true, runAsUser: 0 }, containers: [{ name: c, image: i }] }', /runAsNonRoot/],
    ['not YAML', 'kind: [', /not valid YAML/],
  ];
  it.each(refused)('refuses %s with an InvalidArgument naming the field', async (_what, yaml, message) => {
    await expect(plan(yaml)).rejects.toMatchObject({ kind: 'invalid-argument', message: expect.stringMatching(message) });
  });
});
