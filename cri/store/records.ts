// The records cri/store keeps durably. Facts only (timestamps, exit code, pid, paths): the CRI
// states are derived from them in state.ts, so they can never disagree.
//
// Timestamps are nanoseconds since the Unix epoch as decimal strings ("1700000000123456789"):
// CRI uses int64 ns, which a JS number cannot hold exactly and JSON cannot carry as a bigint.
// An absent timestamp means "has not happened" (containerd's 0).

import type { Phase } from '../../common/index.js';

export type NanoTime = string;

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

export const RECORD_VERSION = 1;

/** How far RunPodSandbox got. Written BEFORE each step's side effect, so after a restart the
 *  stage names the step that may be half done and must be finished or undone. */
export type SandboxStage =
  | 'created' // record and name exist, nothing else yet
  | 'netns' // network namespace being created (netnsPath is set before the mount)
  | 'network' // CNI ADD started: undo needs CNI DEL
  | 'task' // pause task being created/started in its shim
  | 'complete' // creation finished (readyAt set)
  | 'removing'; // RemovePodSandbox started: a restart finishes the removal

export interface SandboxMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

export interface SandboxRecord {
  readonly v: typeof RECORD_VERSION;
  readonly id: string;
  readonly metadata: SandboxMetadata;
  /** The CRI PodSandboxConfig as given, as plain JSON. */
  readonly config: JsonObject;
  readonly runtimeHandler: string;
  readonly createdAt: NanoTime;
  readonly stage: SandboxStage;
  /** Pause process pid; 0 when not running. */
  readonly pid: number;
  /** "" for host-network pods or before the netns exists. */
  readonly netnsPath: string;
  /**
   * Set for a pod without a pause process (docs/cri.md "Pods without a pause process"): its
   * pinned IPC and UTS namespace files, "" where the pod uses the host's. Absent: a pause pod.
   */
  readonly pauseless?: { readonly ipcPath: string; readonly utsPath: string };
  readonly ip: string;
  readonly additionalIps: readonly string[];
  readonly readyAt?: NanoTime;
  readonly stoppedAt?: NanoTime;
  /** Where RunPodSandbox's time went: phase -> { at, ms } (common/phase-clock.ts). */
  readonly timings?: Readonly<Record<string, Phase>>;
  /** The last UpdatePodSandboxResources: the pod's overhead and resources as plain JSON. */
  readonly podResources?: { readonly overhead?: JsonObject; readonly resources?: JsonObject };
}

export interface ContainerMetadata {
  readonly name: string;
  readonly attempt: number;
}

export interface ContainerRecord {
  readonly v: typeof RECORD_VERSION;
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: ContainerMetadata;
  /** The CRI ContainerConfig as given, as plain JSON. */
  readonly config: JsonObject;
  /** The image as the caller named it, and its resolved image id (config digest). */
  readonly imageRef: string;
  readonly imageId: string;
  /** Full log path (sandbox log_directory + container log_path), "" if none. */
  readonly logPath: string;
  readonly createdAt: NanoTime;
  readonly startedAt?: NanoTime;
  readonly finishedAt?: NanoTime;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly message?: string;
  /** Container init pid; 0 when not running. */
  readonly pid: number;
  /**
   * The resources the spec applies, as CRI LinuxContainerResources in plain JSON (cri/oci
   * appliedResources): set by CreateContainer, replaced by each UpdateContainerResources that the
   * task took; ContainerStatus.resources reports them.
   */
  readonly resources?: JsonObject;
  /** The spec's process user (uid, gid, additionalGids as supplementalGroups): ContainerStatus.user. */
  readonly user?: { readonly uid: number; readonly gid: number; readonly supplementalGroups: readonly number[] };
  /** Where StartContainer's time went: phase -> { at, ms } (common/phase-clock.ts). */
  readonly timings?: Readonly<Record<string, Phase>>;
}

/** Now as a NanoTime. */
export function nowNanos(): NanoTime {
  return nanosFromDate(new Date());
}

export function nanosFromDate(d: Date): NanoTime {
  return (BigInt(d.getTime()) * 1_000_000n).toString();
}

/** A protobuf Timestamp as NanoTime; seconds <= 0 (Go's zero time) means "no time" (docs/proto.md, Timestamps). */
export function nanosFromTimestamp(ts: { seconds: number | bigint | string; nanos?: number }): NanoTime | undefined {
  const seconds = BigInt(ts.seconds);
  if (seconds <= 0n) return undefined;
  return (seconds * 1_000_000_000n + BigInt(ts.nanos ?? 0)).toString();
}

/** True when the timestamp records something that happened (absent and "0" do not). */
export function isSet(t: NanoTime | undefined): t is NanoTime {
  return t !== undefined && t !== '' && t !== '0';
}
