// The narrow contract between the streaming server and whatever runs processes. The CRI daemon
// wires it to the task manager (exec/attach) and to the pod's network namespace (port-forward);
// tests wire it to host processes. The server owns the wire protocols, the backend owns processes.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** Streams of one exec/attach session. Absent streams were not requested by the client. */
export interface SessionStreams {
  /** Client input; ends when the client closes stdin or disconnects. */
  stdin?: Readable;
  /** Respect backpressure (pipe/pipeline): a slow client makes `write` return false. */
  stdout?: Writable;
  /** Never present with `tty` (the terminal merges stderr into stdout). */
  stderr?: Writable;
  /** Terminal size changes, only with `tty`; ends with the session. */
  resize?: AsyncIterable<TerminalSize>;
  /** Aborted when the client disconnects, the idle timeout fires or the server closes. */
  signal: AbortSignal;
}

export interface BackendExecRequest extends SessionStreams {
  containerId: string;
  cmd: string[];
  tty: boolean;
}

export interface BackendAttachRequest extends SessionStreams {
  containerId: string;
  tty: boolean;
}

export interface BackendPortForwardRequest {
  podSandboxId: string;
  port: number;
  /** Raw TCP bytes of one forwarded connection; end it when the pod side closes. */
  stream: Duplex;
  signal: AbortSignal;
}

export interface StreamingBackend {
  /** Runs `cmd` in the container; resolves with its exit code once it exited and output drained. */
  exec(req: BackendExecRequest): Promise<{ exitCode: number }>;
  /** Connects to the container's live stdio; resolves when the container's output ends. */
  attach(req: BackendAttachRequest): Promise<void>;
  /** Connects `stream` to `port` inside the pod; resolves when the connection is over. */
  portForward(req: BackendPortForwardRequest): Promise<void>;
}

// The CRI requests, in the shape protobufjs decodes them (unset fields may be null/undefined).
export interface CriExecRequest {
  containerId?: string | null;
  cmd?: string[] | null;
  tty?: boolean | null;
  stdin?: boolean | null;
  stdout?: boolean | null;
  stderr?: boolean | null;
}
export interface CriAttachRequest {
  containerId?: string | null;
  tty?: boolean | null;
  stdin?: boolean | null;
  stdout?: boolean | null;
  stderr?: boolean | null;
}
export interface CriPortForwardRequest {
  podSandboxId?: string | null;
  port?: number[] | null;
}

/** What a token stands for, after validation. */
export type CachedRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'attach'; containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portforward'; podSandboxId: string; ports: number[] };

export type SessionRequest = Extract<CachedRequest, { kind: 'exec' | 'attach' }>;
