// Memory settings of the berth daemon, applied once when its entry point loads (docs/bench.md
// "Daemon memory").
//
// Node 24 made Buffer's shared pool 64 KiB (it was 8 KiB up to Node 22). Every small Buffer
// (`Buffer.from`, `allocUnsafe` under half the pool) is a view into the pool's current slab, and
// one live view keeps the whole slab. The daemon holds small buffers for as long as a container
// runs: the request of each task's pending Wait, the cached encodings of frozen CRI messages
// (proto/encode-cache.ts), partial log lines. With 64 KiB slabs that pinned ~150 KiB per pod of
// two containers; with 8 KiB slabs what a slab keeps alive is at most 8 KiB. Slabs made before
// this line (the first one, at Node's start) keep their size.
Buffer.poolSize = 8 * 1024;
