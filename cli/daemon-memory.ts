// Memory settings of the berth daemon, applied once when its entry point loads, before the
// daemon's own code runs (docs/bench.md "Daemon memory").
import v8 from 'node:v8';
import { mallocTrim } from '../sys/index.js';

// Node 24 made Buffer's shared pool 64 KiB (it was 8 KiB up to Node 22). Every small Buffer
// (`Buffer.from`, `allocUnsafe` under half the pool) is a view into the pool's current slab, and
// one live view keeps the whole slab. The daemon holds small buffers for as long as a container
// runs (a task's pending Wait, cached CRI encodings): with 64 KiB slabs that pinned ~150 KiB per
// pod of two containers. With 8 KiB slabs what one view keeps is at most 8 KiB. The slab made at
// Node's start keeps its size.
Buffer.poolSize = 8 * 1024;

// V8's young generation starts at 1 MiB per semi-space and, on Node 24, doubles under a burst of
// allocation up to 32 MiB (64 MiB for both halves), and stays there once the burst is over: after
// a few thousand CRI reads the idle daemon held 27 MiB of new space and 24 MiB more of malloc (the
// buffers that died young but were scavenged late). berth's shims run with
// `--max-semi-space-size=1`; that flag is read only when the heap is made, but the growth factor
// is read at each scavenge, so a factor of 1 keeps the young generation at its first size here,
// whatever command line started the daemon. It also holds for the worker threads started later.
v8.setFlagsFromString('--semi-space-growth-factor=1');

// Memory that malloc got back (Buffers, ArrayBuffers, nghttp2's and level's blocks) stays in the
// daemon, its PSS, until malloc reuses it: glibc gives the top of its main heap back only above a
// threshold that grows with the largest block ever freed (the V8 code cache written after the
// first start left ~7 MiB), and the arenas of the threads (libuv's pool, V8's workers) not at all.
// containerd's Go runtime returns free memory in the background; here malloc_trim(0) does it every
// TRIM_EVERY_MS (0.2-9 ms a call, image/image-service.ts measured it after pulls). Without glibc
// (koffi or the symbol missing) it stops.
const TRIM_EVERY_MS = 30_000;
const trim = setInterval(() => {
  try {
    mallocTrim();
  } catch {
    clearInterval(trim);
  }
}, TRIM_EVERY_MS);
trim.unref();
