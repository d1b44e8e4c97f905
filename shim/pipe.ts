// pipe2(2), which sys/ does not offer (yet): the container's stdin must be a real pipe whose
// write end the shim holds, so CloseIO can give the container EOF. Node's own stdio 'pipe' does
// not work here: child_process destroys a child's stdin when runc (the child) exits.
import { createRequire } from 'node:module';
import { SyscallError } from '../sys/index.js';

type PipeFn = (fds: Int32Array, flags: number) => number;
interface Koffi {
  load(path: string): { func(proto: string): PipeFn };
  errno(): number;
}

const O_CLOEXEC = 0o2000000;
let pipe2Fn: PipeFn | undefined;
let koffiMod: Koffi | undefined;

/** A close-on-exec pipe: [read end, write end]. */
export function makePipe(): [number, number] {
  if (!pipe2Fn) {
    koffiMod = createRequire(import.meta.url)('koffi') as Koffi;
    pipe2Fn = koffiMod.load('libc.so.6').func('int pipe2(_Out_ int *fds, int flags)');
  }
  const fds = new Int32Array(2);
  if (pipe2Fn(fds, O_CLOEXEC) === -1) throw new SyscallError('pipe2', (koffiMod as Koffi).errno());
  return [fds[0] as number, fds[1] as number];
}
