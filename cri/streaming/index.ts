// cri/streaming: the HTTP server behind the URLs that CRI Exec, Attach and PortForward return.
// It speaks SPDY/3.1 (kubectl/kubelet's default) and WebSocket (channel.k8s.io family) and runs
// sessions through a StreamingBackend that the daemon wires to the task manager and pod netns.
export { StreamingServer, type StreamingServerOptions } from './server.js';
export type {
  StreamingBackend, BackendExecRequest, BackendAttachRequest, BackendPortForwardRequest, SessionStreams, TerminalSize,
  CriExecRequest, CriAttachRequest, CriPortForwardRequest,
} from './types.js';
export { statusJson } from './status.js';
