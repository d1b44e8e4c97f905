// Seccomp and SELinux choices of a CRI security context, and the profile choice AppArmor shares
// (apparmor.ts). berth applies no SELinux label; what it does with each request is in
// docs/oci-spec.md.
import { readFileSync } from 'node:fs';
import { FailedPreconditionError, InvalidArgumentError, type Logger } from '../../common/index.js';
import type { HostInfo } from './host-info.js';
import { defaultSeccompProfile } from './seccomp-default.js';
import type { CriSELinuxOption, CriSecurityProfile, OciSeccomp } from './types.js';
import { PROFILE_TYPE_NAMES, ProfileType, enumValue } from './values.js';

const LOCALHOST_PREFIX = 'localhost/';

/** Where the spec functions say what they ignore: the caller's logger, its ids bound. */
export type SpecLog = Pick<Logger, 'debug'>;

export type ProfileChoice =
  | { kind: 'unset' }
  | { kind: 'runtime-default' }
  | { kind: 'unconfined' }
  | { kind: 'localhost'; ref: string };

/** The deprecated `*_profile_path` strings: runtime/default, docker/default, unconfined, localhost/<ref>. */
export function profileFromPath(p: string | null | undefined, field: string): ProfileChoice {
  if (!p) return { kind: 'unset' };
  if (p === 'runtime/default' || p === 'docker/default') return { kind: 'runtime-default' };
  if (p === 'unconfined') return { kind: 'unconfined' };
  if (p.startsWith(LOCALHOST_PREFIX)) return { kind: 'localhost', ref: p.slice(LOCALHOST_PREFIX.length) };
  throw new InvalidArgumentError(`${field}: invalid profile ${JSON.stringify(p)}`);
}

/**
 * The SecurityProfile message when present, else the deprecated string field `legacyField`
 * (`seccomp_profile_path`, `apparmor_profile`).
 */
export function chooseProfile(
  sp: CriSecurityProfile | null | undefined, legacyPath: string | null | undefined, field: string, legacyField: string,
): ProfileChoice {
  if (!sp) return profileFromPath(legacyPath, legacyField);
  const type = enumValue(sp.profileType, PROFILE_TYPE_NAMES, `${field}.profile_type`);
  if (type !== ProfileType.Localhost && sp.localhostRef) {
    throw new InvalidArgumentError(`${field}: localhost_ref may only be set when profile_type is Localhost`);
  }
  if (type === ProfileType.Unconfined) return { kind: 'unconfined' };
  if (type === ProfileType.RuntimeDefault) return { kind: 'runtime-default' };
  const ref = (sp.localhostRef ?? '').replace(/^localhost\//, '');
  if (!ref) throw new InvalidArgumentError(`${field}: profile_type Localhost needs a localhost_ref`);
  return { kind: 'localhost', ref };
}

function loadLocalhostProfile(ref: string): OciSeccomp {
  if (!ref.startsWith('/')) throw new InvalidArgumentError(`seccomp: localhost profile ${JSON.stringify(ref)} must be an absolute path`);
  let text: string;
  try {
    text = readFileSync(ref, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`seccomp: cannot load localhost profile ${JSON.stringify(ref)}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`seccomp: localhost profile ${JSON.stringify(ref)} is not valid JSON`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as OciSeccomp).defaultAction !== 'string') {
    throw new InvalidArgumentError(`seccomp: localhost profile ${JSON.stringify(ref)} has no defaultAction`);
  }
  return parsed as OciSeccomp;
}

/** The linux.seccomp to set (undefined = none). Privileged containers never get one. */
export function seccompFor(choice: ProfileChoice, privileged: boolean, bounding: readonly string[]): OciSeccomp | undefined {
  if (privileged) return undefined;
  switch (choice.kind) {
    case 'unset':
    case 'unconfined':
      return undefined;
    case 'runtime-default':
      return defaultSeccompProfile(bounding);
    case 'localhost':
      return loadLocalhostProfile(choice.ref);
  }
}

/**
 * SELinux options of a pod or container. berth applies no SELinux labels. On a host without
 * SELinux they are ignored, as containerd ignores them there (logged at debug); on a host with
 * SELinux they are refused: the process would run without the label asked for.
 */
export function applySelinuxOptions(opts: CriSELinuxOption | null | undefined, field: string, host: Pick<HostInfo, 'selinuxEnabled'>, log: SpecLog): void {
  if (!opts || !(opts.user || opts.role || opts.type || opts.level)) return;
  if (!host.selinuxEnabled) {
    const given = Object.fromEntries((['user', 'role', 'type', 'level'] as const).filter((k) => opts[k]).map((k) => [k, opts[k]]));
    log.debug({ field: `${field}.selinux_options`, selinuxOptions: given }, 'SELinux is not enabled on this host: selinux_options ignored');
    return;
  }
  throw new FailedPreconditionError(`${field}.selinux_options are set, but berth applies no SELinux labels (SELinux is enabled on this host)`);
}
