// Reading protobufjs values: int64 in any of its JS forms, enums as numbers or names.
import { InvalidArgumentError } from '../../common/index.js';
import type { EnumValue, Int64 } from './types.js';

export function toInt(v: Int64 | null | undefined, field: string): number {
  if (v === null || v === undefined) return 0;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') n = Number(v);
  else if ('toNumber' in v) n = v.toNumber();
  else n = v.high * 2 ** 32 + (v.low >>> 0);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field}: ${String(v)} is not an integer`);
  return n;
}

/** An enum as its number; names are looked up in `names` (index = value). */
export function enumValue(v: EnumValue | null | undefined, names: readonly string[], field: string): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v >= names.length) throw new InvalidArgumentError(`${field}: unknown value ${v}`);
    return v;
  }
  const i = names.indexOf(v);
  if (i < 0) throw new InvalidArgumentError(`${field}: unknown value ${JSON.stringify(v)}`);
  return i;
}

export const SupplementalGroupsPolicy = { Merge: 0, Strict: 1 } as const;
export const SUPPLEMENTAL_GROUPS_POLICY_NAMES = ['Merge', 'Strict'] as const;

export const NamespaceMode = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
export const NAMESPACE_MODE_NAMES = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;
export const MountPropagation = { PRIVATE: 0, HOST_TO_CONTAINER: 1, BIDIRECTIONAL: 2 } as const;
export const MOUNT_PROPAGATION_NAMES = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'] as const;
export const ProfileType = { RuntimeDefault: 0, Unconfined: 1, Localhost: 2 } as const;
export const PROFILE_TYPE_NAMES = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;
