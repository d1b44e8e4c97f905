// berth's AppArmor profile and its loading, checked with the real apparmor_parser (Debian's
// `apparmor` package, deploy/install-deps.sh). This host's kernel has no AppArmor, so the parser
// compiles without loading (-Q): the profile's text is proven valid, and the daemon's
// invocation (-Kr <file>) is checked through a wrapper that records it. docs/oci-spec.md.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { apparmorProfileText, BERTH_APPARMOR_PROFILE, ensureDefaultApparmorProfile, loadedApparmorProfiles } from './apparmor.js';

const PARSER = '/usr/sbin/apparmor_parser';
const log = { info: () => undefined };
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-apparmor-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles a profile with the real parser (no kernel load, no cache); returns the binary policy's size. */
function compile(text: string): number {
  const file = path.join(dir, `profile-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  return execFileSync(PARSER, ['-Q', '-K', '-T', '-S', file], { stdio: ['ignore', 'pipe', 'ignore'] }).length;
}

describe('berth\'s default AppArmor profile', () => {
  it('is there to check: apparmor_parser is installed (deploy/install-deps.sh)', () => {
    expect(existsSync(PARSER)).toBe(true);
  });

  it('compiles with the real parser, with the host\'s includes and without them', () => {
    expect(compile(apparmorProfileText())).toBeGreaterThan(0);
    const bare = apparmorProfileText(BERTH_APPARMOR_PROFILE, () => false);
    expect(bare).not.toContain('#include');
    expect(compile(bare)).toBeGreaterThan(0);
    // the parser does refuse a bad profile, so the two above are real passes
    expect(() => compile('profile broken { bogus_rule, }\n')).toThrow();
  });

  it('denies mounts and the host-wide kernel knobs, and keeps signals and ptrace among its own', () => {
    const text = apparmorProfileText();
    expect(text).toMatch(/^profile berth-default flags=\(attach_disconnected,mediate_deleted\) \{$/m);
    for (const rule of ['deny mount,', 'deny /proc/sys/{fs,vm,dev,debug,abi,user}/** w,', 'deny /sys/firmware/** rwklx,',
      'signal (send,receive) peer=berth-default,', 'ptrace (trace,read,tracedby,readby) peer=berth-default,']) {
      expect(text).toContain(`  ${rule}\n`);
    }
  });
});

describe('loading it at daemon start', () => {
  const profiles = (names: string[]) => {
    const f = path.join(dir, `loaded-${names.join('-') || 'none'}`);
    writeFileSync(f, names.map((n) => `${n} (enforce)\n`).join(''));
    return f;
  };
  /** A stand-in parser: records its arguments and the profile file, then runs the real parser without loading. */
  const recorder = (exitCode = 0) => {
    const rec = path.join(dir, `rec-${Math.random().toString(36).slice(2)}`);
    const script = path.join(dir, `parser-${path.basename(rec)}`);
    writeFileSync(script, [
      '#!/bin/sh', `echo "$@" > ${rec}.args`, `cat "$2" > ${rec}.profile`,
      exitCode === 0 ? `exec ${PARSER} -Q -T "$@"` : `echo "parser says no" >&2; exit ${exitCode}`, '',
    ].join('\n'));
    chmodSync(script, 0o755);
    return { script, rec };
  };

  it('reads the loaded profiles as the kernel lists them', () => {
    writeFileSync(path.join(dir, 'mixed'), 'berth-default (enforce)\n/usr/bin/man (complain)\nsnap.x (enforce)\n\n');
    expect([...loadedApparmorProfiles(path.join(dir, 'mixed'))]).toEqual(['berth-default', '/usr/bin/man', 'snap.x']);
    expect(loadedApparmorProfiles(path.join(dir, 'missing')).size).toBe(0);
  });

  it('runs apparmor_parser -Kr on the profile text when the kernel lacks it, and leaves no temp file', async () => {
    const { script, rec } = recorder();
    const before = readdirSync(os.tmpdir()).filter((n) => n.startsWith('berth-apparmor-') && n !== path.basename(dir));
    expect(await ensureDefaultApparmorProfile(log, { profilesFile: profiles(['other']), parser: script })).toBe(true);
    const args = readFileSync(`${rec}.args`, 'utf8').trim().split(' ');
    expect(args[0]).toBe('-Kr');
    expect(path.basename(args[1]!)).toBe(BERTH_APPARMOR_PROFILE);
    expect(readFileSync(`${rec}.profile`, 'utf8')).toBe(apparmorProfileText());
    expect(existsSync(args[1]!)).toBe(false);
    expect(readdirSync(os.tmpdir()).filter((n) => n.startsWith('berth-apparmor-') && n !== path.basename(dir))).toEqual(before);
  });

  it('does not run the parser when the profile is loaded already', async () => {
    const { script, rec } = recorder();
    expect(await ensureDefaultApparmorProfile(log, { profilesFile: profiles([BERTH_APPARMOR_PROFILE]), parser: script })).toBe(false);
    expect(existsSync(`${rec}.args`)).toBe(false);
  });

  it('a failing parser is a FailedPrecondition carrying what it printed', async () => {
    const { script } = recorder(3);
    const err = await ensureDefaultApparmorProfile(log, { profilesFile: profiles([]), parser: script }).catch((e: unknown) => e);
    expect(isKind(err, 'failed-precondition')).toBe(true);
    expect((err as Error).message).toBe('apparmor_parser -Kr (profile berth-default) exited 3: parser says no');
  });
});
