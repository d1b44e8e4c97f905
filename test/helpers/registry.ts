// Registries for tests. `startRegistry` runs the real Debian docker-registry on 127.0.0.1 with
// filesystem storage in a temp dir (optionally htpasswd auth, hashed with bcryptjs) and pushes
// OCI layouts into it with skopeo. `startFakeRegistry` is a tiny Node server playing a registry
// for what the real one will not do: tampered blobs, bearer-token auth, stalled transfers.
import bcrypt from 'bcryptjs';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly dir: string;
  /**
   * Pushes every image of the OCI layout `layoutDir` tagged `tag` to `<host>/<repo>:<tag>`;
   * `compress: 'zstd'` has skopeo recompress the layers (media type `...tar+zstd`).
   */
  push(layoutDir: string, tag: string, repo: string, opts?: { format?: 'oci' | 'v2s2'; compress?: 'zstd' }): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(opts: { auth?: { username: string; password: string } } = {}): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let authYaml = '';
  if (opts.auth) {
    await fs.writeFile(path.join(dir, 'htpasswd'), `${opts.auth.username}:${bcrypt.hashSync(opts.auth.password, 4)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  await fs.writeFile(path.join(dir, 'config.yml'), [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    authYaml,
  ].join('\n'));
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      const status = await new Promise<number>((resolve) => {
        const req = http.get(`http://${host}/v2/`, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.on('error', () => resolve(0));
        req.setTimeout(1000, () => req.destroy());
      });
      if (status === 200 || status === 401) break;
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${host}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    dir,
    async push(layoutDir, tag, repo, pushOpts = {}) {
      const args = ['copy', '--insecure-policy', '--all', '--dest-tls-verify=false', '--quiet',
        ...(pushOpts.format ? ['--format', pushOpts.format] : []),
        ...(pushOpts.compress ? ['--dest-compress', '--dest-compress-format', pushOpts.compress] : []),
        ...(opts.auth ? ['--dest-creds', `${opts.auth.username}:${opts.auth.password}`] : []),
        `oci:${layoutDir}:${tag}`, `docker://${host}/${repo}:${tag}`];
      await run('skopeo', args, { timeout: 60_000 });
    },
    stop,
  };
}

export interface FakeBlob {
  data: Buffer;
  mediaType: string;
}

export interface FakeRegistryOptions {
  /** repo path -> manifests by tag and digest, blobs by digest. */
  manifests: Map<string, FakeBlob>;
  blobs: Map<string, Buffer>;
  /** Serve these bytes instead for a blob digest (a tampered blob). */
  tamper?: Map<string, Buffer>;
  /** Send this many bytes of the blob, then go silent. */
  stall?: { digest: string; after: number };
  /** Require a bearer token from /token (given for these credentials, or anonymously when null). */
  bearer?: { username: string; password: string } | null;
  /** Send this Docker-Content-Digest for every manifest instead of the real one. */
  lyingDigest?: string;
  /** Answer blob GETs with a 307 to this other fake registry (`host:port`). */
  redirectBlobsTo?: string;
  /** Hold each blob response this long before sending it (to observe parallel downloads). */
  blobDelayMs?: number;
  /** Serve HTTPS with this key and certificate (PEM); with `clientCa`, only clients with a certificate it signed. */
  tls?: { key: string; cert: string; clientCa?: string };
}

export interface FakeRegistry {
  readonly host: string;
  readonly requests: string[];
  /** The requests (as in `requests`) that carried an Authorization header. */
  readonly authorized: string[];
  /** Most blob responses that were in flight at once. */
  readonly maxBlobsInFlight: number;
  stop(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function startFakeRegistry(o: FakeRegistryOptions): Promise<FakeRegistry> {
  const requests: string[] = [];
  const authorized: string[] = [];
  const token = 'tok-' + Math.random().toString(36).slice(2);
  const sockets = new Set<net.Socket>();
  let host = '';
  let inFlight = 0;
  let maxInFlight = 0;
  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.authorization) authorized.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/token') {
      const want = o.bearer ? `Basic ${Buffer.from(`${o.bearer.username}:${o.bearer.password}`).toString('base64')}` : undefined;
      let ok = want === undefined || req.headers.authorization === want;
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        if (req.method === 'POST' && o.bearer) {
          const f = new URLSearchParams(body);
          ok = f.get('username') === o.bearer.username && f.get('password') === o.bearer.password;
          if (ok) { res.end(JSON.stringify({ access_token: token })); return; }
        }
        res.statusCode = ok ? 200 : 401;
        res.end(ok ? JSON.stringify({ token }) : '{}');
      });
      return;
    }
    if (o.bearer !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      res.statusCode = 401;
      res.setHeader('www-authenticate', `Bearer realm="http://${host}/token",service="fake",scope="repository:x:pull"`);
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) { res.statusCode = 404; res.end(); return; }
    const [, , kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const man = o.manifests.get(ref);
      if (!man) { res.statusCode = 404; res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] })); return; }
      res.setHeader('content-type', man.mediaType);
      res.setHeader('docker-content-digest', o.lyingDigest ?? sha(man.data));
      res.end(man.data);
      return;
    }
    if (o.redirectBlobsTo) {
      res.statusCode = 307;
      res.setHeader('location', `http://${o.redirectBlobsTo}${url.pathname}`);
      res.end();
      return;
    }
    const blob = o.tamper?.get(ref) ?? o.blobs.get(ref);
    if (!blob) { res.statusCode = 404; res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] })); return; }
    res.setHeader('content-length', String(blob.length));
    if (o.stall?.digest === ref) {
      res.write(blob.subarray(0, o.stall.after));
      return; // never ends; the socket is destroyed on stop()
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => { inFlight--; });
    if (o.blobDelayMs) setTimeout(() => res.end(blob), o.blobDelayMs);
    else res.end(blob);
  };
  const mtls = o.tls?.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: o.tls.clientCa } : {};
  const server = o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert, ...mtls }, handler) : http.createServer(handler);
  server.on(o.tls ? 'secureConnection' : 'connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    host,
    requests,
    authorized,
    get maxBlobsInFlight() { return maxInFlight; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A self-signed certificate for 127.0.0.1 (openssl), written into `dir` as key.pem + cert.pem. */
export async function selfSignedCert(dir: string): Promise<{ key: string; cert: string; certPath: string }> {
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeout: 30_000 });
  return { key: await fs.readFile(keyPath, 'utf8'), cert: await fs.readFile(certPath, 'utf8'), certPath };
}
