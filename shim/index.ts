// shim layer: public door. containerd-shim-berth-v2 itself is shim/main.ts (bundled by esbuild);
// this door exposes what other layers and tests may reuse: the socket formula and flag parsing.
// The launcher script is shim/containerd-shim-berth-v2 (execs node on the dist bundle).
export { parseFlags, serverArgv, type Action, type ShimFlags } from './flags.js';
export {
  GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION, groupKey, readAnnotations, shimSocketAddress, socketDir,
} from './socket-address.js';
export { STATUS, type ProcessState } from './process-state.js';
