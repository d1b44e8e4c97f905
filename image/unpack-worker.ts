// Worker thread entry (started by image/unpacker.ts): applies layer blobs for the main thread, so
// a pull's gunzip bookkeeping, diffID hash, tar parsing and file writes run beside its downloads
// (containerd unpacks on other cores than the ones reading the network too). The rules are
// applyLayer's, unchanged; the caller still checks the diffID and renames the snapshot into place.
// The new snapshot's disk usage is measured here too, while its files are fresh in the cache.
// A followed source is an ingest file still downloading: read as far as the main thread says it
// is written, ending only when it says the blob is verified (image/growing-file.ts); it asks
// for news only when it has caught up with the download.
import { parentPort } from 'node:worker_threads';
import { applyLayer } from './apply-layer.js';
import { fileReader } from './chunk-reader.js';
import { Growth, growingReader, type GrowthState } from './growing-file.js';
import { fromWireError, toWireError, withUsage, type FromWorker, type ToWorker, type UnpackReply } from './unpack-wire.js';

const port = parentPort;
if (!port) throw new Error('image/unpack-worker runs as a worker thread');
const growths = new Map<number, Growth>();

/** The main thread's Growth as seen here: asks for more (a WantMessage) only when caught up. */
class RemoteGrowth extends Growth {
  constructor(private readonly id: number) {
    super();
  }

  override waitBeyond(offset: number): Promise<GrowthState> {
    const s = this.state;
    if (!this.error && !s.final && s.size <= offset) port!.postMessage({ type: 'want', id: this.id, offset } satisfies FromWorker);
    return super.waitBeyond(offset);
  }
}
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
    const g = new RemoteGrowth(m.id);
    growths.set(m.id, g);
    source = growingReader(m.source.fd, g);
  } else {
    source = fileReader(m.source.file);
  }
  const reply = (r: UnpackReply) => {
    growths.delete(m.id);
    port.postMessage(r);
  };
  applyLayer(m.root, source, m.compression).then((applied) => withUsage(applied, m.measure)).then(
    (result) => reply({ type: 'done', id: m.id, result }),
    (err: unknown) => reply({ type: 'done', id: m.id, error: toWireError(err) }),
  );
});
