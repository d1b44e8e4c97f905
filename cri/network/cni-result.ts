// CNI result JSON (docs/network.md "Results") in its 1.0.0 / 0.4.0 / 0.3.x shape (interfaces + ips with an
// interface index) and the old 0.2.0 shape (ip4/ip6), reduced to what berth reports: the pod's
// interfaces and its IPs on eth0, the preferred one first (go-cni's rules).
import { InternalError } from '../../common/index.js';

export interface CniInterface {
  readonly name: string;
  readonly mac: string;
  readonly sandbox: string;
}

export interface CniIp {
  /** CIDR, e.g. 10.99.0.2/24. */
  readonly address: string;
  readonly gateway: string;
  /** The interface's name, '' when the result gives no index. */
  readonly interface: string;
}

export interface ParsedResult {
  readonly cniVersion: string;
  readonly interfaces: readonly CniInterface[];
  readonly ips: readonly CniIp[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a result object; throws Internal when it is not a CNI result at all. */
export function parseResult(raw: unknown, ifName: string): ParsedResult {
  if (!isObject(raw)) throw new InternalError(`cni plugin returned no result object: ${JSON.stringify(raw)}`);
  const cniVersion = str(raw.cniVersion);
  if (isObject(raw.ip4) || isObject(raw.ip6)) {
    // 0.2.0: no interfaces; the addresses belong to the interface the plugin was asked for.
    const ips = [raw.ip4, raw.ip6].filter(isObject).map((ip) => ({ address: str(ip.ip), gateway: str(ip.gateway), interface: ifName }));
    return { cniVersion, interfaces: [], ips };
  }
  const interfaces = (Array.isArray(raw.interfaces) ? raw.interfaces : []).filter(isObject).map((i) => ({
    name: str(i.name),
    mac: str(i.mac),
    sandbox: str(i.sandbox),
  }));
  const ips = (Array.isArray(raw.ips) ? raw.ips : []).filter(isObject).map((ip) => ({
    address: str(ip.address),
    gateway: str(ip.gateway),
    interface: typeof ip.interface === 'number' ? (interfaces[ip.interface]?.name ?? '') : '',
  }));
  return { cniVersion, interfaces, ips };
}

export type IpPreference = '' | 'ipv4' | 'ipv6' | 'cni';

const bare = (cidr: string): string => cidr.split('/')[0] ?? cidr;
const isV6 = (ip: string): boolean => ip.includes(':');

/**
 * The pod IPs from eth0's addresses (an address with no interface counts as eth0): the preferred
 * one first (ipv4 by default, ipv6, or `cni` = first listed), the others after in result order.
 */
export function podIps(result: ParsedResult, ifName: string, pref: IpPreference = ''): string[] {
  const ips = result.ips.filter((ip) => ip.interface === ifName || ip.interface === '').map((ip) => bare(ip.address));
  if (ips.length === 0) return [];
  let first = 0;
  if (pref !== 'cni') {
    const wantV6 = pref === 'ipv6';
    const i = ips.findIndex((ip) => isV6(ip) === wantV6);
    first = i < 0 ? 0 : i;
  }
  return [ips[first] as string, ...ips.filter((_, i) => i !== first)];
}
