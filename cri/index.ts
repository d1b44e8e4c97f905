// cri: the CRI v1 gRPC server (RuntimeService + ImageService) and the daemon around it.
export { startDaemon, type Daemon } from './daemon.js';
export { adminAddressOf, serveAdmin, type AdminServer } from './admin-server.js';
export { serveCri, type CriBackends, type CriServer } from './server.js';
export { loadConfig, DEFAULT_CONFIG, type BerthConfig, type ConfigOverrides } from './config/index.js';
export { LOCAL_PAUSE_IMAGE, LOCAL_BUSYBOX_IMAGE, RUNTIME_NAME, rfc3339Nano } from './runtime/index.js';
