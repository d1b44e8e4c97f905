// Shim and daemon socket addresses as containerd writes them: `unix:///abs/path` (a filesystem
// socket), a plain absolute path (TTRPC_ADDRESS style), or any other string, which names a
// Linux abstract socket (Node spells those with a leading NUL byte).
import { InvalidArgumentError } from '../../common/index.js';

export function socketPathOf(address: string): string {
  if (address.length === 0) throw new InvalidArgumentError('ttrpc: empty socket address');
  if (address.startsWith('unix://')) {
    const p = address.slice('unix://'.length);
    if (!p.startsWith('/')) throw new InvalidArgumentError(`ttrpc: address ${JSON.stringify(address)} is not an absolute unix path`);
    return p;
  }
  if (address.startsWith('/')) return address;
  if (address.includes('://')) throw new InvalidArgumentError(`ttrpc: unsupported address scheme in ${JSON.stringify(address)}`);
  return address.startsWith('\0') ? address : `\0${address}`;
}
