// The annotations containerd's CRI plugin writes, and the runtime handler's pass-through lists
// (`pod_annotations`, `container_annotations`: Go path.Match globs).
import { SANDBOX_ID_ANNOTATION } from '../../proto/index.js';

export const Annotation = {
  ContainerType: 'io.kubernetes.cri.container-type',
  SandboxId: SANDBOX_ID_ANNOTATION,
  SandboxName: 'io.kubernetes.cri.sandbox-name',
  SandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  SandboxUid: 'io.kubernetes.cri.sandbox-uid',
  SandboxLogDir: 'io.kubernetes.cri.sandbox-log-directory',
  SandboxCpuPeriod: 'io.kubernetes.cri.sandbox-cpu-period',
  SandboxCpuQuota: 'io.kubernetes.cri.sandbox-cpu-quota',
  SandboxCpuShares: 'io.kubernetes.cri.sandbox-cpu-shares',
  SandboxMemory: 'io.kubernetes.cri.sandbox-memory',
  ContainerName: 'io.kubernetes.cri.container-name',
  ImageName: 'io.kubernetes.cri.image-name',
} as const;

/** A Go `path.Match` pattern as a RegExp; a malformed pattern matches nothing (as containerd). */
export function globToRegExp(pattern: string): RegExp | undefined {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return undefined;
      re += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return undefined;
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      if (!body) return undefined;
      re += `[${negate ? '^/' : ''}${body.replace(/[\]\\^]/g, '\\$&')}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  try {
    return new RegExp(`${re}$`);
  } catch {
    return undefined;
  }
}

/** The entries of `annotations` whose keys match any of `patterns`. */
export function passthroughAnnotations(annotations: Record<string, string> | null | undefined, patterns: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const res = (patterns ?? []).map(globToRegExp).filter((r): r is RegExp => r !== undefined);
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if (res.some((r) => r.test(k))) out[k] = v;
  }
  return out;
}
