// The shim's containerd.task.v2.Task API over one ttrpc connection, in plain TypeScript shapes.
// This is the only file in taskmanager/ that touches generated protobuf types. Every call but
// Wait carries a deadline.
import {
  OCI_LINUX_RESOURCES_TYPE_URL, OCI_PROCESS_TYPE_URL, RUNC_OPTIONS_TYPE_URL, TASK_SERVICE, containerd,
  createServiceClient, fromTimestamp, google, packJson, taskServiceMethods, type ServiceClient, type TtrpcClient,
} from '../proto/index.js';

export interface Mount {
  type: string;
  source: string;
  target?: string;
  options?: string[];
}

export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export type TaskStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';
const STATUS_NAMES: TaskStatus[] = ['unknown', 'created', 'running', 'stopped', 'paused', 'pausing'];

export interface ProcessState {
  id: string;
  bundle: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exitStatus: number;
  /** undefined while the process has not exited (Go's zero time on the wire). */
  exitedAt: Date | undefined;
}

export interface ExitInfo {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

export interface StdioPaths {
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
}

/** Runc options as containerd.runc.v1.Options fields (camelCase). */
export type RuncOptions = Partial<{
  noPivotRoot: boolean; noNewKeyring: boolean; shimCgroup: string; ioUid: number; ioGid: number;
  binaryName: string; root: string; criuPath: string; systemdCgroup: boolean;
}>;

const dateOf = fromTimestamp;

export function encodeRuncOptions(o: RuncOptions): AnyMessage {
  return { typeUrl: RUNC_OPTIONS_TYPE_URL, value: containerd.runc.v1.Options.encode(o).finish() };
}

/** The protobuf bytes of a google.protobuf.Any (what `<shim> start` reads on stdin). */
export function encodeAnyBytes(a: AnyMessage): Uint8Array {
  return google.protobuf.Any.encode({ type_url: a.typeUrl, value: a.value }).finish();
}

/** stdout of `<shim> delete`: a DeleteResponse. */
export function decodeDeleteResponse(bytes: Uint8Array): ExitInfo {
  const r = containerd.task.v2.DeleteResponse.decode(bytes);
  return { pid: r.pid ?? 0, exitStatus: r.exitStatus ?? 0, exitedAt: dateOf(r.exitedAt) ?? new Date() };
}

export class ShimTaskApi {
  readonly #task: ServiceClient<typeof taskServiceMethods>;

  constructor(readonly client: TtrpcClient, private readonly timeoutMs: number) {
    this.#task = createServiceClient(client, TASK_SERVICE, taskServiceMethods);
  }

  #opts(timeoutMs = this.timeoutMs): { timeoutMs: number } {
    return { timeoutMs };
  }

  async create(id: string, bundle: string, rootfs: Mount[], stdio: StdioPaths, options?: AnyMessage): Promise<number> {
    const r = await this.#task.Create({
      id, bundle,
      rootfs: rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options ?? [] })),
      terminal: stdio.terminal, stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr,
      checkpoint: '', parentCheckpoint: '',
      ...(options ? { options: { type_url: options.typeUrl, value: options.value } } : {}),
    }, this.#opts());
    return r.pid ?? 0;
  }

  async start(id: string, execId = ''): Promise<number> {
    return (await this.#task.Start({ id, execId }, this.#opts())).pid ?? 0;
  }

  async state(id: string, execId = ''): Promise<ProcessState> {
    const r = await this.#task.State({ id, execId }, this.#opts());
    return {
      id: r.id ?? '', bundle: r.bundle ?? '', pid: r.pid ?? 0, status: STATUS_NAMES[Number(r.status ?? 0)] ?? 'unknown',
      stdin: r.stdin ?? '', stdout: r.stdout ?? '', stderr: r.stderr ?? '', terminal: r.terminal ?? false,
      exitStatus: r.exitStatus ?? 0, exitedAt: dateOf(r.exitedAt),
    };
  }

  async delete(id: string, execId = ''): Promise<ExitInfo> {
    const r = await this.#task.Delete({ id, execId }, this.#opts());
    return { pid: r.pid ?? 0, exitStatus: r.exitStatus ?? 0, exitedAt: dateOf(r.exitedAt) ?? new Date() };
  }

  async pids(id: string): Promise<Array<{ pid: number; info?: AnyMessage }>> {
    const r = await this.#task.Pids({ id }, this.#opts());
    return (r.processes ?? []).map((p) => ({
      pid: p.pid ?? 0,
      ...(p.info ? { info: { typeUrl: p.info.type_url ?? '', value: p.info.value ?? new Uint8Array(0) } } : {}),
    }));
  }

  async pause(id: string): Promise<void> { await this.#task.Pause({ id }, this.#opts()); }
  async resume(id: string): Promise<void> { await this.#task.Resume({ id }, this.#opts()); }

  async kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    await this.#task.Kill({ id, execId, signal, all }, this.#opts());
  }

  async exec(id: string, execId: string, stdio: StdioPaths, processSpec: unknown): Promise<void> {
    await this.#task.Exec({
      id, execId, terminal: stdio.terminal, stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr,
      spec: packJson(OCI_PROCESS_TYPE_URL, processSpec),
    }, this.#opts());
  }

  async resizePty(id: string, execId: string, width: number, height: number): Promise<void> {
    await this.#task.ResizePty({ id, execId, width, height }, this.#opts());
  }

  async closeIO(id: string, execId: string): Promise<void> {
    await this.#task.CloseIO({ id, execId, stdin: true }, this.#opts());
  }

  async update(id: string, resources: unknown, annotations: Record<string, string> = {}): Promise<void> {
    await this.#task.Update({
      id, resources: packJson(OCI_LINUX_RESOURCES_TYPE_URL, resources), annotations,
    }, this.#opts());
  }

  async stats(id: string): Promise<AnyMessage> {
    const r = await this.#task.Stats({ id }, this.#opts());
    return { typeUrl: r.stats?.type_url ?? '', value: r.stats?.value ?? new Uint8Array(0) };
  }

  /** Blocks until the process exits: the one call without a deadline. */
  async wait(id: string, execId = ''): Promise<{ exitStatus: number; exitedAt: Date }> {
    const r = await this.#task.Wait({ id, execId }, {});
    return { exitStatus: r.exitStatus ?? 0, exitedAt: dateOf(r.exitedAt) ?? new Date() };
  }

  async connect(id: string, timeoutMs = 5_000): Promise<{ shimPid: number; taskPid: number; version: string }> {
    const r = await this.#task.Connect({ id }, this.#opts(timeoutMs));
    return { shimPid: r.shimPid ?? 0, taskPid: r.taskPid ?? 0, version: r.version ?? '' };
  }

  async shutdown(id: string, timeoutMs = 3_000): Promise<void> {
    await this.#task.Shutdown({ id, now: false }, this.#opts(timeoutMs));
  }
}
