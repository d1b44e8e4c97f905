// berth's own admin endpoint (docs/images.md "Import and export"): what the CRI has no call for.
// HTTP/1.1 on a unix socket only root can open (0600, bound under a random name and renamed into
// place, so no other user can connect in between), beside the CRI socket:
//   POST /v1/images/import[?base_name=<repo>]  body: an image archive tar -> {"images":[...]}
//   GET  /v1/images/export?image=<ref or id>   -> the image as an OCI layout tar
// Errors are JSON {"code": <gRPC code>, "message": ...} with an HTTP status that matches.
import { chmod, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Code, randomBytes, toStatus, type Logger } from '../common/index.js';
import type { ImageRecord, ImageService } from '../image/index.js';

export interface AdminServer {
  readonly address: string;
  close(): Promise<void>;
}

/** The admin socket beside the CRI socket: `/run/berth/berth.sock` -> `/run/berth/berth-admin.sock`. */
export function adminAddressOf(criAddress: string): string {
  return path.join(path.dirname(criAddress), `${path.basename(criAddress).replace(/\.sock$/, '')}-admin.sock`);
}

const HTTP_STATUS: Partial<Record<number, number>> = {
  [Code.INVALID_ARGUMENT]: 400, [Code.NOT_FOUND]: 404, [Code.FAILED_PRECONDITION]: 412, [Code.RESOURCE_EXHAUSTED]: 413,
  [Code.UNIMPLEMENTED]: 501,
};

const imageView = (r: ImageRecord) => ({ id: r.id, repoTags: r.repoTags, repoDigests: r.repoDigests, size: r.size });

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const { code, message } = toStatus(err);
  if (res.headersSent) {
    res.destroy(); // a tar cut short: the client sees the connection end before the last chunk
    return;
  }
  sendJson(res, HTTP_STATUS[code] ?? 500, { code, message });
}

async function handle(images: ImageService, req: http.IncomingMessage, res: http.ServerResponse, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://berth-admin');
  if (req.method === 'POST' && url.pathname === '/v1/images/import') {
    const baseName = url.searchParams.get('base_name') ?? undefined;
    const recs = await images.importArchive(req, baseName ? { baseName } : {});
    sendJson(res, 200, { images: recs.map(imageView) });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/v1/images/export') {
    const ref = url.searchParams.get('image') ?? '';
    if (!images.status(ref)) {
      sendJson(res, 404, { code: Code.NOT_FOUND, message: `image ${JSON.stringify(ref)}: not found` });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    const rec = await images.exportImage(ref, res);
    log.info({ id: rec.id }, 'image exported');
    return;
  }
  req.resume();
  sendJson(res, 404, { code: Code.NOT_FOUND, message: `no ${req.method ?? ''} ${url.pathname} here` });
}

/** Serves the admin endpoint on `address` once `images` is there (calls made before wait for it). */
export async function serveAdmin(address: string, images: ImageService | Promise<ImageService>, log: Logger): Promise<AdminServer> {
  const adminLog = log.child({ component: 'admin' });
  // Imports of big archives take minutes: no request timeout (the socket is root's only).
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    void Promise.resolve(images).then((svc) => handle(svc, req, res, adminLog)).catch((err: unknown) => {
      adminLog.warn({ err, url: req.url }, 'admin call failed');
      req.resume();
      sendError(res, err);
    });
  });
  server.timeout = 0;
  const bound = path.join(path.dirname(address), `.admin-${randomBytes(8).toString('hex')}.sock`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bound, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    await chmod(bound, 0o600);
    await rename(bound, address);
  } catch (err) {
    server.close();
    await rm(bound, { force: true });
    throw err;
  }
  adminLog.info({ address }, 'admin endpoint listening');
  return {
    address,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(address, { force: true });
    },
  };
}
