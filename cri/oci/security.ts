// Seccomp, AppArmor and SELinux choices of a CRI security context.
import { readFileSync } from 'node:fs';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import type { HostInfo } from './host-info.js';
import { defaultSeccompProfile } from './seccomp-default.js';
import type { CriSELinuxOption, CriSecurityProfile, OciSeccomp } from './types.js';
import { PROFILE_TYPE_NAMES, ProfileType, enumValue } from './values.js';

const LOCALHOST_PREFIX = 'localhost/';

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

/** The SecurityProfile message when present, else the deprecated path string. */
export function chooseProfile(sp: CriSecurityProfile | null | undefined, legacyPath: string | null | undefined, field: string): ProfileChoice {
  if (!sp) return profileFromPath(legacyPath, `${field}_profile_path`);
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

/** AppArmor: this host has none (and berth loads no profiles): asking for one is refused. */
export function checkAppArmor(choice: ProfileChoice, host: Pick<HostInfo, 'apparmorEnabled'>): void {
  if (choice.kind === 'unset' || choice.kind === 'unconfined') return;
  if (!host.apparmorEnabled) throw new FailedPreconditionError('apparmor is not supported on this host');
  throw new FailedPreconditionError('apparmor profiles are not supported by berth');
}

/** SELinux options: refused when any field is set (no SELinux here, no labelling in berth). */
export function checkSelinux(opts: CriSELinuxOption | null | undefined, field: string): void {
  if (opts && (opts.user || opts.role || opts.type || opts.level)) {
    throw new FailedPreconditionError(`${field}.selinux_options are set but SELinux is not supported on this host`);
  }
}
