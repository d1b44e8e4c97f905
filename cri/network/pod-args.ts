// What a pod hands to CNI: identity for CNI_ARGS, and the capability args (port mappings,
// bandwidth, DNS, annotations) in the shape containerd 1.6 sends them (docs/network.md "stdin").
import { InvalidArgumentError, validateIdentifier } from '../../common/index.js';

/** CRI PortMapping; protocol as the CRI enum (0 TCP, 1 UDP, 2 SCTP) or its name. */
export interface PortMappingInput {
  readonly protocol?: number | string;
  readonly containerPort: number;
  readonly hostPort: number;
  readonly hostIp?: string;
}

/** Rates in bit/s (e.g. from the kubernetes.io/{in,e}gress-bandwidth annotations). */
export interface BandwidthInput {
  readonly ingressRate?: number;
  readonly egressRate?: number;
}

export interface DnsInput {
  readonly servers?: readonly string[];
  readonly searches?: readonly string[];
  readonly options?: readonly string[];
}

export interface PodNetworkArgs {
  /** Sandbox id: CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID. */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly netnsPath: string;
  readonly portMappings?: readonly PortMappingInput[];
  readonly bandwidth?: BandwidthInput;
  readonly dns?: DnsInput;
  readonly annotations?: Readonly<Record<string, string>>;
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'];
const MAX_UINT32 = 4294967295;

function protocolName(p: number | string | undefined): string {
  if (p === undefined) return 'tcp';
  const name = typeof p === 'number' ? PROTOCOLS[p] : p.toLowerCase();
  if (name === undefined || !PROTOCOLS.includes(name)) throw new InvalidArgumentError(`port mapping protocol ${JSON.stringify(p)} is not TCP, UDP or SCTP`);
  return name;
}

function port(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${what} ${n} is not a port number`);
  return n;
}

/** Checks the identity fields; returns the args unchanged. */
export function validateArgs(args: PodNetworkArgs): PodNetworkArgs {
  validateIdentifier(args.id, 'sandbox id');
  for (const [k, v] of [['name', args.name], ['namespace', args.namespace], ['uid', args.uid]] as const) {
    if (typeof v !== 'string' || /[;=\s]/.test(v)) throw new InvalidArgumentError(`pod ${k} ${JSON.stringify(v)} cannot be passed in CNI_ARGS`);
  }
  if (typeof args.netnsPath !== 'string' || !args.netnsPath.startsWith('/')) {
    throw new InvalidArgumentError(`network namespace path ${JSON.stringify(args.netnsPath)} is not absolute`);
  }
  for (const pm of args.portMappings ?? []) {
    port(pm.hostPort, 'host port');
    port(pm.containerPort, 'container port');
    protocolName(pm.protocol);
  }
  return args;
}

/** CNI_ARGS pairs, as go-cni builds them for a pod. */
export function cniArgs(args: PodNetworkArgs): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', args.namespace],
    ['K8S_POD_NAME', args.name],
    ['K8S_POD_INFRA_CONTAINER_ID', args.id],
    ['K8S_POD_UID', args.uid],
  ];
}

/** Capability args the runtime supplies; a plugin gets the subset it declares. */
export function capabilityArgs(args: PodNetworkArgs): Record<string, unknown> {
  const caps: Record<string, unknown> = { 'io.kubernetes.cri.pod-annotations': { ...(args.annotations ?? {}) } };
  const maps = (args.portMappings ?? []).filter((pm) => pm.hostPort > 0);
  if (maps.length > 0) {
    caps.portMappings = maps.map((pm) => ({
      HostPort: pm.hostPort,
      ContainerPort: pm.containerPort,
      Protocol: protocolName(pm.protocol),
      HostIP: pm.hostIp ?? '',
    }));
  }
  const bw = args.bandwidth;
  if (bw && ((bw.ingressRate ?? 0) > 0 || (bw.egressRate ?? 0) > 0)) {
    const ingress = bw.ingressRate ?? 0;
    const egress = bw.egressRate ?? 0;
    caps.bandwidth = {
      IngressRate: ingress,
      IngressBurst: ingress > 0 ? MAX_UINT32 : 0,
      EgressRate: egress,
      EgressBurst: egress > 0 ? MAX_UINT32 : 0,
    };
  }
  if (args.dns) {
    caps.dns = { Servers: [...(args.dns.servers ?? [])], Searches: [...(args.dns.searches ?? [])], Options: [...(args.dns.options ?? [])] };
  }
  return caps;
}

const SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** A Kubernetes quantity ("10M", "1Gi", "500k") in units; InvalidArgument when malformed. */
export function parseQuantity(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kMGTPE]i?|Ki)?$/.exec(q.trim());
  const mult = m ? SUFFIX[m[2] ?? ''] : undefined;
  if (!m || mult === undefined) throw new InvalidArgumentError(`bandwidth quantity ${JSON.stringify(q)} is not valid`);
  return Math.round(Number(m[1]) * mult);
}

/** Bandwidth from the pod annotations kubernetes.io/ingress-bandwidth / egress-bandwidth. */
export function bandwidthFromAnnotations(annotations: Readonly<Record<string, string>>): BandwidthInput | undefined {
  const ingress = annotations['kubernetes.io/ingress-bandwidth'];
  const egress = annotations['kubernetes.io/egress-bandwidth'];
  if (ingress === undefined && egress === undefined) return undefined;
  return {
    ...(ingress !== undefined ? { ingressRate: parseQuantity(ingress) } : {}),
    ...(egress !== undefined ? { egressRate: parseQuantity(egress) } : {}),
  };
}
