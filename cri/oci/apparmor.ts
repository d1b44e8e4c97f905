// AppArmor on hosts that have it, as containerd's CRI plugin does it: a container without a
// profile, or with RuntimeDefault, runs under berth's default profile (loaded with
// apparmor_parser when missing); Localhost names a profile that must already be loaded;
// Unconfined and privileged containers run without one. On a host without AppArmor (or with
// `disable_apparmor = true`) RuntimeDefault is ignored and Localhost refused (docs/oci-spec.md).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, type Logger } from '../../common/index.js';
import { runProcess } from '../../sys/index.js';
import type { HostInfo } from './host-info.js';
import type { ProfileChoice, SpecLog } from './security.js';

/** The name berth's default profile is loaded under. */
export const BERTH_APPARMOR_PROFILE = 'berth-default';
const APPARMOR_DIR = '/etc/apparmor.d';

/**
 * berth's default profile, written for berth: files, network and the capabilities the OCI spec
 * leaves are allowed; writes to host-wide kernel knobs under /proc and /sys, raw memory, firmware,
 * the security and debug filesystems, and new mounts are denied; signals and ptrace only among
 * processes under this profile (and signals from unconfined ones: the runtime's kill).
 * `tunables/global` and `abstractions/base` are included where the host ships them.
 */
export function apparmorProfileText(name = BERTH_APPARMOR_PROFILE, have = (p: string) => existsSync(path.join(APPARMOR_DIR, p))): string {
  const lines = [
    ...(have('tunables/global') ? ['#include <tunables/global>', ''] : []),
    `profile ${name} flags=(attach_disconnected,mediate_deleted) {`,
    ...(have('abstractions/base') ? ['  #include <abstractions/base>', ''] : []),
    '  network,',
    '  capability,',
    '  file,',
    '  umount,',
    '',
    '  # the kernel\'s knobs: the host-wide sysctls, raw memory and firmware stay out of reach',
    '  deny /proc/sys/{fs,vm,dev,debug,abi,user}/** w,',
    '  deny /proc/sys/kernel/{core_pattern,modprobe,hotplug,sysrq,panic*,kexec_load_disabled,poweroff_cmd} w,',
    '  deny /proc/{sysrq-trigger,kcore,kallsyms,timer_list} rwklx,',
    '  deny /dev/{mem,kmem,port} rwklx,',
    '  deny /sys/{block,bus,class,devices,module,power}/** w,',
    '  deny /sys/kernel/{security,debug}/** rwklx,',
    '  deny /sys/firmware/** rwklx,',
    '',
    '  # no new mounts from inside',
    '  deny mount,',
    '',
    '  # signals and ptrace only within containers under this profile',
    `  signal (receive) peer=unconfined,`,
    `  signal (send,receive) peer=${name},`,
    `  ptrace (trace,read,tracedby,readby) peer=${name},`,
    '}',
    '',
  ];
  return lines.join('\n');
}

/** The names of the loaded profiles (empty when the file cannot be read). */
export function loadedApparmorProfiles(file: string): Set<string> {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return new Set();
  }
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(.*) \((\w+)\)$/.exec(line.trim());
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Where the loaded profiles are read (HostInfo.apparmorProfilesFile), and the parser to run. */
export interface ApparmorPaths {
  profilesFile: string;
  parser?: string;
}

/**
 * Loads berth's default profile unless the kernel already has it: the text in a private temp
 * file, then `apparmor_parser -Kr <file>` (replace, and skip the cache). Throws with the
 * parser's output when it fails.
 */
export async function ensureDefaultApparmorProfile(log: Pick<Logger, 'info'>, o: ApparmorPaths): Promise<boolean> {
  if (loadedApparmorProfiles(o.profilesFile).has(BERTH_APPARMOR_PROFILE)) return false;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-apparmor-'));
  try {
    const file = path.join(dir, BERTH_APPARMOR_PROFILE);
    await writeFile(file, apparmorProfileText(), { mode: 0o600 });
    const r = await runProcess({ file: o.parser ?? 'apparmor_parser', args: ['-Kr', file], timeoutMs: 30_000 });
    if (r.code !== 0) {
      throw new FailedPreconditionError(`apparmor_parser -Kr (profile ${BERTH_APPARMOR_PROFILE}) exited ${r.code}: ${r.stderr.toString().trim()}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  log.info({ profile: BERTH_APPARMOR_PROFILE }, 'AppArmor profile loaded');
  return true;
}

const profileName = (c: ProfileChoice): string =>
  c.kind === 'localhost' ? `Localhost ${JSON.stringify(c.ref)}` : c.kind === 'runtime-default' ? 'RuntimeDefault' : 'Unconfined';

/**
 * The AppArmor profile a container runs under (`process.apparmorProfile`), or undefined for none.
 * Without AppArmor: unset and Unconfined run, RuntimeDefault is ignored (logged at debug: the host
 * confines nothing, so berth's rule that a no-op option never fails a pod applies), Localhost is
 * refused. With AppArmor: unset and RuntimeDefault get berth's default profile unless privileged,
 * Localhost gets the named profile if it is loaded.
 */
export function apparmorFor(
  choice: ProfileChoice, privileged: boolean, host: Pick<HostInfo, 'apparmorEnabled' | 'apparmorProfilesFile'>, log?: SpecLog,
): string | undefined {
  const profilesFile = host.apparmorProfilesFile;
  if (choice.kind === 'unconfined') return undefined;
  if (!host.apparmorEnabled) {
    if (choice.kind === 'unset') return undefined;
    if (choice.kind === 'runtime-default') {
      log?.debug({ apparmor: 'RuntimeDefault' }, 'AppArmor is not enabled on this host: apparmor RuntimeDefault ignored');
      return undefined;
    }
    throw new FailedPreconditionError(`apparmor: profile ${profileName(choice)} needs AppArmor, and AppArmor is not enabled on this host (only Unconfined and RuntimeDefault run here)`);
  }
  if (choice.kind === 'localhost') {
    if (!/^[^\s\0]+$/.test(choice.ref)) throw new InvalidArgumentError(`apparmor: invalid Localhost profile name ${JSON.stringify(choice.ref)}`);
    if (!loadedApparmorProfiles(profilesFile).has(choice.ref)) {
      throw new FailedPreconditionError(`apparmor: profile ${profileName(choice)} is not loaded on this host (load it with apparmor_parser first)`);
    }
    return choice.ref;
  }
  if (privileged) return undefined;
  if (!loadedApparmorProfiles(profilesFile).has(BERTH_APPARMOR_PROFILE)) {
    throw new FailedPreconditionError(`apparmor: berth's default profile ${BERTH_APPARMOR_PROFILE} is not loaded (the daemon logged why at start)`);
  }
  return BERTH_APPARMOR_PROFILE;
}
