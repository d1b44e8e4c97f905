// The pod network steps of RunPodSandbox, StopPodSandbox and RemovePodSandbox: CRI config ->
// PodNetworking args, and errors that keep their kind and name the sandbox, as containerd's do.
import { BerthError, isBerthError } from '../../common/index.js';
import { bandwidthFromAnnotations, isNetns, removeNetns, type PodNetworkResult, type PortMappingInput } from '../network/index.js';
import type { JsonObject, SandboxRecord } from '../store/index.js';
import { annotationsOf } from './convert.js';
import type { RuntimeDeps } from './deps.js';

function inContext(err: unknown, what: string): BerthError {
  const why = err instanceof Error ? err.message : String(err);
  return new BerthError(isBerthError(err) ? err.kind : 'unknown', `${what}: ${why}`, { cause: err });
}

/** CNI ADD for the pod; failures keep their kind and say which sandbox, as containerd's do. */
export async function setupNetwork(
  deps: Pick<RuntimeDeps, 'network'>, id: string, md: { name: string; uid: string; namespace: string }, netns: string, config: JsonObject,
): Promise<PodNetworkResult> {
  const annotations = annotationsOf({ config });
  // plain JSON drops default fields: TCP (0) and a 0 port are absent
  const mappings = (Array.isArray(config.portMappings) ? config.portMappings : []) as Partial<PortMappingInput>[];
  const portMappings = mappings.map((pm): PortMappingInput => ({
    protocol: pm.protocol ?? 0, containerPort: pm.containerPort ?? 0, hostPort: pm.hostPort ?? 0, ...(pm.hostIp ? { hostIp: pm.hostIp } : {}),
  }));
  try {
    return await deps.network.setupPodNetwork({
      id, name: md.name, namespace: md.namespace, uid: md.uid, netnsPath: netns, portMappings,
      bandwidth: bandwidthFromAnnotations(annotations), annotations,
    });
  } catch (err) {
    throw inContext(err, `failed to setup network for sandbox "${id}"`);
  }
}

/**
 * CNI DEL + unpin, once the pause task is gone. Skipped when the netns is no longer pinned (host
 * network, or already torn down): an interrupted teardown left a journal that recovery finishes.
 */
export async function teardownNetwork(deps: Pick<RuntimeDeps, 'network'>, s: SandboxRecord): Promise<void> {
  if (s.netnsPath === '') return;
  if (!isNetns(s.netnsPath)) return removeNetns(s.netnsPath); // a file left by an unpin cut short
  try {
    await deps.network.teardownPodNetwork({ id: s.id, netnsPath: s.netnsPath });
  } catch (err) {
    throw inContext(err, `failed to destroy network for sandbox "${s.id}"`);
  }
}
