// node:crypto, loaded at its first use rather than when the daemon's bundle is evaluated: Node 24
// loads its X.509 and cipher internals with it (~7 ms here), and no call a restart must answer
// first needs a hash or random bytes (docs/cri.md "Start-up order").
import type { Hash } from 'node:crypto';

type NodeCrypto = typeof import('node:crypto');
let loaded: NodeCrypto | undefined;
const nodeCrypto = (): NodeCrypto => (loaded ??= process.getBuiltinModule('node:crypto'));

export const randomBytes = (size: number): Buffer => nodeCrypto().randomBytes(size);
export const createHash = (algorithm: string): Hash => nodeCrypto().createHash(algorithm);
