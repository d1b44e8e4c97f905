// The container's user: CRI run_as_user / run_as_username / run_as_group, else the image's
// `User` (`uid`, `uid:gid`, `name`, `name:group`, ...), with names looked up in the rootfs'
// /etc/passwd and /etc/group (containerd's oci.WithUser / WithAdditionalGIDs rules).
import { InvalidArgumentError } from '../../common/index.js';
import { readFileInRoot } from './rootfs-reader.js';
import type { CriInt64Value, EnumValue, Int64, OciUser } from './types.js';
import { SUPPLEMENTAL_GROUPS_POLICY_NAMES, SupplementalGroupsPolicy, enumValue, toInt } from './values.js';

export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 4 || !f[0] || !Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = Number(f[2]);
    if (f.length < 3 || !f[0] || !Number.isInteger(gid)) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

// containerd (>= 1.6.38, CVE-2024-40635) follows runc: uids and gids are 0..2^31-1. A larger one
// is refused, never wrapped (to 0) nor taken as a user name (docs/security.md).
const MAX_ID = 0x7fffffff;

function checkId(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw new InvalidArgumentError(`${what} ${n} is not a valid id (0-${MAX_ID})`);
  return n;
}

/**
 * containerd's generateUserString: username wins over uid, the gid is appended as `:gid`,
 * a gid without a user is an error. "" means "not set by CRI".
 */
export function criUserString(username: string | null | undefined, uid: CriInt64Value | null | undefined, gid: CriInt64Value | null | undefined): string {
  let user = '';
  if (uid) user = String(checkId(toInt(uid.value ?? 0, 'run_as_user'), 'run_as_user'));
  if (username) user = username;
  const group = gid ? String(checkId(toInt(gid.value ?? 0, 'run_as_group'), 'run_as_group')) : '';
  if (!user) {
    if (group) throw new InvalidArgumentError(`run_as_group ${group} is specified without run_as_user or run_as_username`);
    return '';
  }
  return group ? `${user}:${group}` : user;
}

export interface ResolvedUser { uid: number; gid: number; name?: string }

/** Resolves a user string against the rootfs, as containerd's oci.WithUser does. */
export function resolveUser(root: string, userstr: string): ResolvedUser {
  const parts = userstr.split(':');
  if (parts.length > 2) throw new InvalidArgumentError(`user ${JSON.stringify(userstr)} is not valid: use uid, uid:gid, name or name:group`);
  const passwdText = readFileInRoot(root, '/etc/passwd');
  const passwd = passwdText === undefined ? undefined : parsePasswd(passwdText);
  const [u = '', g] = parts;
  if (u === '') throw new InvalidArgumentError(`user ${JSON.stringify(userstr)} is not valid: empty user`);
  let resolved: ResolvedUser;
  if (isNumeric(u)) {
    const uid = checkId(Number(u), 'uid');
    const entry = passwd?.find((p) => p.uid === uid);
    // An unknown numeric uid is fine (gid 0), like containerd's WithUserID.
    resolved = entry ? { uid, gid: entry.gid, name: entry.name } : { uid, gid: 0 };
  } else {
    const entry = passwd?.find((p) => p.name === u);
    if (!entry) throw new InvalidArgumentError(`user ${JSON.stringify(u)} not found in the image's /etc/passwd`);
    resolved = { uid: entry.uid, gid: entry.gid, name: entry.name };
  }
  if (g === undefined) return resolved;
  if (g === '') throw new InvalidArgumentError(`user ${JSON.stringify(userstr)} is not valid: empty group`);
  if (isNumeric(g)) return { ...resolved, gid: checkId(Number(g), 'gid') };
  const groupText = readFileInRoot(root, '/etc/group');
  const group = groupText === undefined ? undefined : parseGroup(groupText).find((e) => e.name === g);
  if (!group) throw new InvalidArgumentError(`group ${JSON.stringify(g)} not found in the image's /etc/group`);
  return { ...resolved, gid: group.gid };
}

/** The gids of the /etc/group entries that list `username` as a member (not its own group). */
export function memberGroups(root: string, username: string | undefined): number[] {
  if (!username) return [];
  const text = readFileInRoot(root, '/etc/group');
  if (text === undefined) return [];
  return parseGroup(text).filter((g) => g.name !== username && g.members.includes(username)).map((g) => g.gid);
}

/**
 * process.user: the uid/gid, then additionalGids = the primary gid (containerd >= 1.6.18), the
 * /etc/group memberships of the user (SupplementalGroupsPolicy Merge, the default; not with
 * Strict) and the CRI supplemental groups, without repeats (containerd 2.x, docs/oci-spec.md).
 */
export function buildUser(
  root: string, userstr: string, supplemental: readonly Int64[] | null | undefined, policy: EnumValue | null | undefined = SupplementalGroupsPolicy.Merge,
): OciUser {
  const strict = enumValue(policy, SUPPLEMENTAL_GROUPS_POLICY_NAMES, 'supplemental_groups_policy') === SupplementalGroupsPolicy.Strict;
  const resolved = userstr ? resolveUser(root, userstr) : resolveUser(root, '0');
  const extra = (supplemental ?? []).map((g) => checkId(toInt(g, 'supplemental_groups'), 'supplemental group'));
  const gids: number[] = [];
  for (const gid of [resolved.gid, ...(strict ? [] : memberGroups(root, resolved.name)), ...extra]) {
    if (!gids.includes(gid)) gids.push(gid);
  }
  return { uid: resolved.uid, gid: resolved.gid, additionalGids: gids };
}
