// A CRI client written in Go, for tests that must prove berth serves what kubelet and crictl
// send: test/go/src/gocri (grpc-go 1.33 from Debian) built once into node_modules/.cache/berth-test/
// and driven over JSON lines. Requests are encoded and replies decoded here with berth's own
// protobuf classes, exactly as the grpc-js client in proto/cri-client.ts does, so both clients'
// results compare equal. Dial styles and the protocol: docs/clients.md.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Code, errorFromCode, InternalError, type BerthError } from '../../common/index.js';
import {
  IMAGE_SERVICE, RUNTIME_SERVICE, imageServiceMethods, runtimeServiceMethods, type CriCallOptions, type CriMethodTable,
  type CriRequest, type CriResponse, type ImageServiceMethods, type RuntimeServiceMethods, type StreamMethodNames,
  type UnaryMethodNames,
} from '../../proto/cri.js';

/**
 * The project root: the nearest directory above this file holding the Go client's source, so it
 * is found from test/helpers, from dist/ and from the bench's bundle (bench/results/tmp/build).
 */
function sourceRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'test/go/src/gocri/main.go'))) return dir;
    if (path.dirname(dir) === dir) throw new InternalError('gocri: cannot find test/go/src/gocri above this file');
  }
}

const projectRoot = sourceRoot();
const SOURCE_DIR = path.join(projectRoot, 'test/go/src/gocri');
const CACHE_DIR = path.join(projectRoot, 'node_modules/.cache/berth-test');

let built: Promise<string> | undefined;

/**
 * Builds the Go client once per test process (offline, GOPATH mode, Debian's grpc-go) and returns
 * the binary's path. The binary is kept under a hash of main.go, so a rebuild happens only when
 * the source changes; Go's build cache sits beside it.
 */
export function buildGoCri(): Promise<string> {
  built ??= (async () => {
    const hash = createHash('sha256').update(readFileSync(path.join(SOURCE_DIR, 'main.go'))).digest('hex').slice(0, 16);
    const bin = path.join(CACHE_DIR, `gocri-${hash}`);
    if (existsSync(bin)) return bin;
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const env = {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: [path.join(CACHE_DIR, 'gopath'), path.join(projectRoot, 'test/go'), '/usr/share/gocode'].join(':'),
      GOCACHE: path.join(CACHE_DIR, 'go-build'),
      GOPROXY: 'off',
      GOFLAGS: '',
      CGO_ENABLED: '0',
    };
    await promisify(execFile)('go', ['build', '-o', tmp, '.'], { cwd: SOURCE_DIR, env, timeout: 600_000 });
    renameSync(tmp, bin); // another test process sees the whole binary or none
    return bin;
  })();
  return built;
}

export interface GoCriOptions {
  /**
   * `bare` (default): the target is the socket path and a unix dialer opens it, as kubelet and
   * crictl 1.26 dial (grpc-go sends the path as :authority). `unix`: the target is unix://<path>.
   */
  dial?: 'bare' | 'unix';
  /** `kept` (default): one connection for every call, as kubelet. `per-call`: dial and close per call, as crictl. */
  conn?: 'kept' | 'per-call';
  /** Dial with grpc.WithBlock (wait for the connection first). */
  block?: boolean;
  /** Default deadline of a call (default 60 s). */
  timeoutMs?: number;
}

export type GoCriCallOptions = Pick<CriCallOptions, 'timeoutMs'>;

/** The unary calls of a CRI service, shaped like proto/cri-client.ts CriClient. */
export type GoCriClient<T extends CriMethodTable> = {
  [K in UnaryMethodNames<T>]: (request: CriRequest<T, K>, options?: GoCriCallOptions) => Promise<CriResponse<T, K>>;
};

export interface GoCriStream {
  /** Resolves when the server ends the stream; rejects with its status (CANCELLED after cancel()). */
  done: Promise<void>;
  cancel(): void;
}

/** A loop of one unary method timed inside the Go program (its protocol: test/go/src/gocri/main.go). */
export interface GoCriLoop {
  /** Calls to make (default: one per request); call i sends requests[i % requests.length]. */
  count?: number;
  /** Dial, call and close per call, as a crictl process does; the default uses the kept connection. */
  perCall?: boolean;
  /** Calls in flight at once (default 1). */
  parallel?: number;
  /** Deadline of the whole loop (default: the client's). */
  timeoutMs?: number;
}

export interface GoCriClients {
  runtime: GoCriClient<RuntimeServiceMethods>;
  image: GoCriClient<ImageServiceMethods>;
  /** A server-streaming RuntimeService call (GetContainerEvents...): each reply goes to `onMessage`. */
  runtimeStream<K extends StreamMethodNames<RuntimeServiceMethods>>(
    name: K, request: CriRequest<RuntimeServiceMethods, K>,
    onMessage: (message: CriResponse<RuntimeServiceMethods, K>) => void, options?: GoCriCallOptions,
  ): GoCriStream;
  /** A server-streaming ImageService call (StreamImages). */
  imageStream<K extends StreamMethodNames<ImageServiceMethods>>(
    name: K, request: CriRequest<ImageServiceMethods, K>,
    onMessage: (message: CriResponse<ImageServiceMethods, K>) => void, options?: GoCriCallOptions,
  ): GoCriStream;
  /** Times a loop of RuntimeService calls in Go: each call's time in µs, in call order. */
  runtimeLoop<K extends UnaryMethodNames<RuntimeServiceMethods>>(
    name: K, requests: readonly CriRequest<RuntimeServiceMethods, K>[], options?: GoCriLoop,
  ): Promise<number[]>;
  /** The same for ImageService calls. */
  imageLoop<K extends UnaryMethodNames<ImageServiceMethods>>(
    name: K, requests: readonly CriRequest<ImageServiceMethods, K>[], options?: GoCriLoop,
  ): Promise<number[]>;
  readonly pid: number | undefined;
  /** Cancels the calls still running, ends the Go process and waits for it to exit. */
  close(): Promise<void>;
}

interface ReplyLine {
  id: number;
  resp?: string;
  us?: number[];
  code?: number;
  message?: string;
  end?: boolean;
}

/** A call in flight: unary calls end at their first message, streams at their end line. */
interface Pending {
  message(bytes: Buffer, us?: number[]): void;
  end(err?: BerthError): void;
}

/** Starts the Go client against the berth socket at `address`. */
export async function startGoCri(address: string, options: GoCriOptions = {}): Promise<GoCriClients> {
  const bin = await buildGoCri();
  const args = ['-address', address, '-dial', options.dial ?? 'bare', '-conn', options.conn ?? 'kept'];
  if (options.block) args.push('-block');
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const defaultTimeoutMs = options.timeoutMs ?? 60_000;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let stderr = '';
  let gone: BerthError | undefined;

  const exited = new Promise<void>((resolve) => {
    const end = (why: string) => {
      gone ??= errorFromCode(Code.UNAVAILABLE, `gocri ${why}${stderr ? `: ${stderr.trim()}` : ''}`);
      for (const p of pending.values()) p.end(gone);
      pending.clear();
      resolve();
    };
    child.once('error', (e) => end(`failed: ${e.message}`));
    child.once('close', (code, signal) => end(`exited (${signal ?? code})`));
  });
  child.stdin.on('error', () => undefined); // EPIPE after an exit: 'close' above reports it
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 16_384) stderr += b.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const r = JSON.parse(line) as ReplyLine;
    const p = pending.get(r.id);
    if (!p) return;
    if (r.code) {
      pending.delete(r.id);
      p.end(errorFromCode(r.code, r.message ?? ''));
    } else if (r.end) {
      pending.delete(r.id);
      p.end();
    } else {
      p.message(Buffer.from(r.resp ?? '', 'base64'), r.us);
    }
  });

  const send = (line: object) => child.stdin.write(`${JSON.stringify(line)}\n`);
  const b64 = (req: Uint8Array) => Buffer.from(req.buffer, req.byteOffset, req.byteLength).toString('base64');
  const begin = (p: Pending, line: (id: number) => object): number => {
    const id = nextId++;
    if (gone) {
      p.end(gone);
      return id;
    }
    pending.set(id, p);
    send(line(id));
    return id;
  };
  const start = (method: string, req: Uint8Array, timeoutMs: number | undefined, stream: boolean, p: Pending): number =>
    begin(p, (id) => ({ id, method, req: b64(req), timeoutMs, stream }));

  function loop(service: string, table: CriMethodTable, name: string, requests: readonly unknown[], o: GoCriLoop): Promise<number[]> {
    const m = table[name]!;
    const method = `/${service}/${name}`;
    return new Promise((resolve, reject) => {
      const id = begin({
        message: (_bytes, us) => {
          pending.delete(id);
          resolve(us ?? []);
        },
        end: (err) => reject(err ?? errorFromCode(Code.INTERNAL, `gocri: loop of ${method} ended without times`)),
      }, (lineId) => ({
        id: lineId, method, timeoutMs: o.timeoutMs ?? defaultTimeoutMs,
        loop: {
          reqs: requests.map((r) => b64(m.requestType.encode(r).finish())),
          count: o.count ?? requests.length, perCall: o.perCall ?? false, parallel: o.parallel ?? 1,
        },
      }));
    });
  }

  function wrap<T extends CriMethodTable>(service: string, table: T): GoCriClient<T> {
    const out: Record<string, unknown> = {};
    for (const [name, m] of Object.entries(table)) {
      if (m.responseStream) continue;
      // The same encode/decode as proto/cri-services.ts serviceDefinition gives grpc-js.
      out[name] = (request: unknown, o: GoCriCallOptions = {}) => new Promise((resolve, reject) => {
        const method = `/${service}/${name}`;
        const id = start(method, m.requestType.encode(request).finish(), o.timeoutMs ?? defaultTimeoutMs, false, {
          message: (bytes) => {
            pending.delete(id);
            resolve(m.responseType.decode(bytes));
          },
          end: (err) => reject(err ?? errorFromCode(Code.INTERNAL, `gocri: ${method} ended without a reply`)),
        });
      });
    }
    return out as GoCriClient<T>;
  }

  function stream(service: string, m: CriMethodTable[string], name: string, request: unknown, onMessage: (message: unknown) => void, o: GoCriCallOptions): GoCriStream {
    let id = 0;
    const done = new Promise<void>((resolve, reject) => {
      id = start(`/${service}/${name}`, m.requestType.encode(request).finish(), o.timeoutMs, true, {
        message: (bytes) => onMessage(m.responseType.decode(bytes)),
        end: (err) => (err ? reject(err) : resolve()),
      });
    });
    return {
      done,
      cancel: () => {
        if (pending.has(id)) send({ id, cancel: true });
      },
    };
  }

  return {
    runtime: wrap(RUNTIME_SERVICE, runtimeServiceMethods),
    image: wrap(IMAGE_SERVICE, imageServiceMethods),
    runtimeStream: (name, request, onMessage, o = {}) =>
      stream(RUNTIME_SERVICE, runtimeServiceMethods[name], name, request, onMessage as (m: unknown) => void, o),
    imageStream: (name, request, onMessage, o = {}) =>
      stream(IMAGE_SERVICE, imageServiceMethods[name], name, request, onMessage as (m: unknown) => void, o),
    runtimeLoop: (name, requests, o = {}) => loop(RUNTIME_SERVICE, runtimeServiceMethods, name, requests, o),
    imageLoop: (name, requests, o = {}) => loop(IMAGE_SERVICE, imageServiceMethods, name, requests, o),
    get pid() {
      return child.pid;
    },
    async close() {
      if (!gone) for (const id of pending.keys()) send({ id, cancel: true });
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
