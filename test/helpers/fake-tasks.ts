// A fake task manager for unit tests of cri/runtime and cri/events: the narrow `RuntimeTasks`
// surface the CRI methods use, kept in memory. It records every call in order, can be told to fail
// a call, and lets a test end a task (`exit`) as a shim's Wait would.
import { PassThrough } from 'node:stream';
import { AlreadyExistsError, NotFoundError } from '../../common/index.js';
import type { RuntimeTasks } from '../../cri/runtime/deps.js';
import type { CreateTaskRequest, ExitInfo, ProcessHandle, ProcessState, TaskExit, TaskHandle } from '../../taskmanager/index.js';

type Method = 'createTask' | 'start' | 'kill' | 'delete' | 'state' | 'startPodShim';

interface FakeTask {
  req: CreateTaskRequest;
  pid: number;
  status: 'created' | 'running' | 'stopped';
  exit?: TaskExit;
  waiters: Array<(e: TaskExit) => void>;
  stdout: PassThrough;
  stderr: PassThrough;
}

export class FakeTasks implements RuntimeTasks {
  /** Every call, in order: "createTask <id>", "start <id>", "kill <id> <signal>", "delete <id>", ... */
  readonly calls: string[] = [];
  /** A call that rejects with this error (once set, until cleared). */
  readonly failures: Partial<Record<Method, Error>> = {};
  /** While set, `start` waits for it. */
  startGate: Promise<void> | undefined;
  readonly #tasks = new Map<string, FakeTask>();
  #nextPid = 1000;

  #get(ns: string, id: string): FakeTask {
    const t = this.#tasks.get(`${ns}/${id}`);
    if (!t) throw new NotFoundError(`task ${ns}/${id}: not found`);
    return t;
  }

  #call(method: Method, line: string): void {
    this.calls.push(line);
    const err = this.failures[method];
    if (err) throw err;
  }

  #handle(ns: string, id: string, t: FakeTask): TaskHandle {
    return { namespace: ns, id, execId: '', pid: t.pid, bundle: `/fake/${ns}/${id}`, shimAddress: 'unix:///fake', stdout: t.stdout as never, stderr: t.stderr as never };
  }

  /** Pod shims started for pods without a pause process: `<ns>/<id>` -> shim pid. */
  readonly podShims = new Map<string, number>();

  async startPodShim(req: { namespace: string; id: string }): Promise<number> {
    this.#call('startPodShim', `startPodShim ${req.id}`);
    const pid = this.#nextPid++;
    this.podShims.set(`${req.namespace}/${req.id}`, pid);
    return pid;
  }

  async stopPodShim(ns: string, id: string): Promise<void> {
    this.calls.push(`stopPodShim ${id}`);
    this.podShims.delete(`${ns}/${id}`);
  }

  podShimPid(ns: string, id: string): number | undefined {
    return this.podShims.get(`${ns}/${id}`);
  }

  /** Adds a task as reload would find it (for recovery tests). */
  adopt(ns: string, id: string, status: FakeTask['status'], pid = this.#nextPid++): TaskHandle {
    const t: FakeTask = { req: { namespace: ns, id, runtime: 'fake', spec: {} }, pid, status, waiters: [], stdout: new PassThrough(), stderr: new PassThrough() };
    this.#tasks.set(`${ns}/${id}`, t);
    return this.#handle(ns, id, t);
  }

  /** The request a task was created with. */
  request(ns: string, id: string): CreateTaskRequest {
    return this.#get(ns, id).req;
  }

  /** Ends a task as its Wait would report it; returns the exit the exit monitor would publish. */
  exit(ns: string, id: string, exitStatus: number): TaskExit {
    const t = this.#get(ns, id);
    t.status = 'stopped';
    t.exit = { namespace: ns, containerId: id, id, pid: t.pid, exitStatus, exitedAt: new Date() };
    for (const w of t.waiters.splice(0)) w(t.exit);
    return t.exit;
  }

  has(ns: string, id: string): boolean {
    return this.#tasks.has(`${ns}/${id}`);
  }

  async createTask(req: CreateTaskRequest): Promise<TaskHandle> {
    this.#call('createTask', `createTask ${req.id}`);
    if (this.has(req.namespace, req.id)) throw new AlreadyExistsError(`task ${req.id}: already exists`);
    const t: FakeTask = { req, pid: this.#nextPid++, status: 'created', waiters: [], stdout: new PassThrough(), stderr: new PassThrough() };
    this.#tasks.set(`${req.namespace}/${req.id}`, t);
    return this.#handle(req.namespace, req.id, t);
  }

  async start(ns: string, id: string): Promise<number> {
    const t = this.#get(ns, id);
    this.#call('start', `start ${id}`);
    await this.startGate;
    t.status = 'running';
    return t.pid;
  }

  async kill(ns: string, id: string, signal: number): Promise<void> {
    this.#get(ns, id);
    this.#call('kill', `kill ${id} ${signal}`);
  }

  async delete(ns: string, id: string): Promise<ExitInfo> {
    const t = this.#get(ns, id);
    this.#call('delete', `delete ${id}`);
    this.#tasks.delete(`${ns}/${id}`);
    t.stdout.end();
    t.stderr.end();
    return { pid: t.pid, exitStatus: t.exit?.exitStatus ?? 0, exitedAt: t.exit?.exitedAt ?? new Date() };
  }

  async state(ns: string, id: string): Promise<ProcessState> {
    const t = this.#get(ns, id);
    this.#call('state', `state ${id}`);
    return {
      id, bundle: '', pid: t.pid, status: t.status, stdin: '', stdout: '', stderr: '', terminal: false,
      exitStatus: t.exit?.exitStatus ?? 0, exitedAt: t.exit?.exitedAt,
    };
  }

  async wait(ns: string, id: string): Promise<TaskExit> {
    const t = this.#get(ns, id);
    if (t.exit) return t.exit;
    return new Promise((resolve) => t.waiters.push(resolve));
  }

  task(ns: string, id: string): TaskHandle {
    return this.#handle(ns, id, this.#get(ns, id));
  }

  async update(): Promise<void> { /* accepted */ }
  async closeIO(): Promise<void> { /* accepted */ }
  async resizePty(): Promise<void> { /* accepted */ }
  async exec(): Promise<ProcessHandle> { throw new Error('FakeTasks: exec is not faked'); }
  async startExec(): Promise<number> { throw new Error('FakeTasks: exec is not faked'); }
  async deleteExec(): Promise<ExitInfo> { throw new Error('FakeTasks: exec is not faked'); }
}
