// Stream protocol names kubelet's server accepts, and negotiation: the first protocol in the
// client's preference order that the server supports wins.

export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
export const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

export const WS_EXEC_PROTOCOLS = [
  'v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io',
] as const;
export const WS_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io', 'channel.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io'] as const;

export function negotiate(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}

/** `X-Stream-Protocol-Version` may repeat and may hold comma-separated lists. */
export function splitHeaderList(value: string | string[] | undefined): string[] {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

export function isV4(protocol: string): boolean {
  return protocol.startsWith('v4.') || protocol.startsWith('v5.');
}

export function isBase64(protocol: string): boolean {
  return protocol.includes('base64.');
}
