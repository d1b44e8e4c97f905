// Worker thread entry (started by image/unpacker.ts): applies layer blobs for the main thread, so
// a pull's gunzip bookkeeping, diffID hash, tar parsing and file writes run beside its downloads
// (containerd unpacks on other cores than the ones reading the network too). The rules are
// applyLayer's, unchanged; the caller still checks the diffID and renames the snapshot into place.
import { parentPort } from 'node:worker_threads';
import { applyLayer } from './apply-layer.js';
import { openBlobFile } from './content-store.js';
import { toWireError, type UnpackReply, type UnpackRequest } from './unpack-wire.js';

const port = parentPort;
if (!port) throw new Error('image/unpack-worker runs as a worker thread');
port.on('message', (m: UnpackRequest) => {
  applyLayer(m.root, openBlobFile(m.file), m.compression).then(
    (result) => port.postMessage({ id: m.id, result } satisfies UnpackReply),
    (err: unknown) => port.postMessage({ id: m.id, error: toWireError(err) } satisfies UnpackReply),
  );
});
