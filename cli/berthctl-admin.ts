// berthctl import/export: clients of the daemon's admin endpoint (cri/admin-server.ts), an HTTP
// socket only root can open beside the CRI socket (docs/images.md "Import and export").
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorFromCode } from '../common/index.js';

interface ImportedImage { id: string; repoTags: string[]; repoDigests: string[]; size: number }

function request(socketPath: string, method: string, urlPath: string): { req: http.ClientRequest; res: Promise<http.IncomingMessage> } {
  const req = http.request({ socketPath, method, path: urlPath, headers: method === 'POST' ? { 'content-type': 'application/x-tar' } : {} });
  const res = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  res.catch(() => undefined);
  return { req, res };
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) body += (chunk as Buffer).toString('utf8');
  return body;
}

/** The daemon's JSON error as a BerthError with its code (so berthctl prints its message). */
async function failure(res: http.IncomingMessage): Promise<Error> {
  const text = await readBody(res);
  try {
    const { code, message } = JSON.parse(text) as { code: number; message: string };
    return errorFromCode(code, message);
  } catch {
    return new Error(`admin endpoint answered ${res.statusCode ?? 0}: ${text}`);
  }
}

/** Sends the archive at `file` (`-`: stdin) to be imported; returns the images it held. */
export async function importArchive(socketPath: string, file: string, baseName?: string): Promise<ImportedImage[]> {
  const query = baseName ? `?base_name=${encodeURIComponent(baseName)}` : '';
  const { req, res } = request(socketPath, 'POST', `/v1/images/import${query}`);
  const source: Readable = file === '-' ? process.stdin : createReadStream(file);
  // The daemon may answer (a refusal) before it has read the whole body.
  const sent = pipeline(source, req).catch((err: unknown) => err);
  const reply = await res;
  if (reply.statusCode !== 200) {
    source.destroy();
    throw await failure(reply);
  }
  const sendErr = await sent;
  if (sendErr) throw sendErr as Error;
  return (JSON.parse(await readBody(reply)) as { images: ImportedImage[] }).images;
}

/**
 * Writes the image `ref` names as an OCI layout tar to `file` (`-`: stdout). A file is written
 * under a temporary name and renamed when complete, so a failed export leaves nothing.
 */
export async function exportArchive(socketPath: string, ref: string, file: string): Promise<void> {
  const { req, res } = request(socketPath, 'GET', `/v1/images/export?image=${encodeURIComponent(ref)}`);
  req.end();
  const reply = await res;
  if (reply.statusCode !== 200) throw await failure(reply);
  if (file === '-') {
    await pipeline(reply, process.stdout as Writable);
    return;
  }
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.part`);
  try {
    // A response cut short (the daemon failed mid-way) ends in 'aborted': pipeline rejects.
    await pipeline(reply, createWriteStream(tmp, { flags: 'wx' }));
    if (!reply.complete) throw new Error(`export of ${ref} was cut short`);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
