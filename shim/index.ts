// shim layer: public door. containerd-shim-berth-v2 itself is shim/main.ts (bundled by esbuild);
// this door exposes what other layers and tests may reuse: the socket formula and flag parsing.
// The launcher script is shim/containerd-shim-berth-v2 (execs node on the dist bundle).
export { parseFlags, serverArgv, type Action, type ShimFlags } from './flags.js';
export {
  DEFAULT_SOCKET_DIR, GROUP_ANNOTATION, SANDBOX_ID_ANNOTATION, groupKey, readAnnotations, shimSocketAddress, socketDir,
} from './socket-address.js';
export { STATUS, type ProcessState } from './process-state.js';

/** The runtime name that resolves to this shim (`containerd-shim-berth-v2`). */
export const BERTH_RUNTIME = 'io.containerd.berth.v2';
