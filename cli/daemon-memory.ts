// Memory settings of the berth daemon, applied once when its entry point loads, before the
// daemon's own code runs (docs/bench.md "Daemon memory").
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { fullGcFunction } from '../image/index.js';
import { mallocTrim } from '../sys/index.js';
import { memoryRelease } from './memory-release.js';

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

// V8 counts the external memory (ArrayBuffer backing stores: every network read of a pull is
// one) allocated since the last full GC against the old generation's limit unless this flag is
// set, so a 50 MB pull ran 4-7 full mark-compacts of the daemon's heap (a quarter of its CPU);
// with it, external memory has its own share of V8's global limit (docs/images.md "Pull CPU").
v8.setFlagsFromString('--external-memory-accounted-in-global-limit');

// After a burst (reads, creates, pulls), the daemon's garbage sits in V8's old generation with the
// Buffers it holds (their memory is malloc's), until V8 next needs a full GC, which an idle daemon
// never does: 3 s after 9000 reads the idle daemon had 24 MiB of heap in use where a fresh one has
// 14, and 13 MiB of external memory where it has 3. Go's runtime forces a GC every 2 minutes and
// returns free memory in the background; here, every CHECK_EVERY_MS, when the event loop was
// near idle since the last check, a heap grown by 4 MiB since the last release gets one full GC,
// and then (or every 30 s anyway; cli/memory-release.ts) malloc_trim(0) hands malloc's free memory
// back to the kernel: glibc keeps it in thread arenas (libuv's pool, V8's workers) and, under a
// threshold that grows with the largest block ever freed, at the top of its main heap (the V8 code
// cache written after a first start left ~7 MiB there). A trim takes 0.2-9 ms
// (image/image-service.ts measured it after pulls). Without glibc (koffi or the symbol missing) the
// trims stop; the GC is image/full-gc.ts's (`gc` fetched without giving it to the daemon's own
// global), the one the ImageService runs after pulls.
const CHECK_EVERY_MS = 5_000;

const check = memoryRelease({
  gc: fullGcFunction(),
  trim: () => void mallocTrim(),
  heapUsed: () => process.memoryUsage().heapUsed,
  now: Date.now,
  idleUtilization: 0.05,
  gcAfterGrowth: 4 * 1024 * 1024,
  trimEveryMs: 30_000,
});
let loop = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  check(performance.eventLoopUtilization(now, loop).utilization);
  loop = now;
}, CHECK_EVERY_MS).unref();
