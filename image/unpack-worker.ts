// Worker thread entry (started by image/unpacker.ts): applies layer blobs for the main thread, so
// a pull's gunzip bookkeeping, diffID hash, tar parsing and file writes run beside its downloads
// (containerd unpacks on other cores than the ones reading the network too). The rules are
// applyLayer's, unchanged; the caller still checks the diffID and renames the snapshot into place.
// A followed source is an ingest file still downloading: read as far as the main thread says it
// is written, ending only when it says the blob is verified (image/growing-file.ts).
import { parentPort } from 'node:worker_threads';
import { applyLayer } from './apply-layer.js';
import { openBlobFile } from './content-store.js';
import { Growth, readGrowing } from './growing-file.js';
import { fromWireError, toWireError, type ToWorker, type UnpackReply } from './unpack-wire.js';

const port = parentPort;
if (!port) throw new Error('image/unpack-worker runs as a worker thread');
const growths = new Map<number, Growth>();
port.on('message', (m: ToWorker) => {
  if (m.type === 'grow') {
    if (m.final) growths.get(m.id)?.finished(m.size);
    else growths.get(m.id)?.grew(m.size);
    return;
  }
  if (m.type === 'fail') {
    growths.get(m.id)?.failed(fromWireError(m.error));
    return;
  }
  let source;
  if ('fd' in m.source) {
    const g = new Growth();
    growths.set(m.id, g);
    source = readGrowing(m.source.fd, g);
  } else {
    source = openBlobFile(m.source.file);
  }
  const reply = (r: UnpackReply) => {
    growths.delete(m.id);
    port.postMessage(r);
  };
  applyLayer(m.root, source, m.compression).then(
    (result) => reply({ id: m.id, result }),
    (err: unknown) => reply({ id: m.id, error: toWireError(err) }),
  );
});
