// Where the image layer's files live, once: the daemon opens its ImageService at
// `imageRootOf(<root>)`, the content store keeps downloads in progress in `ingestDirOf(...)`, and
// `berthctl pull` reads that directory for its progress line (docs/berthctl.md).
import path from 'node:path';

/** The image layer's root under the daemon's `--root`: content/ and snapshots/ (docs/cri.md). */
export function imageRootOf(daemonRoot: string): string {
  return path.join(daemonRoot, 'images');
}

/** A content store's ingest directory under the image layer's root: one file per blob downloading. */
export function ingestDirOf(imageRoot: string): string {
  return path.join(imageRoot, 'content', 'ingest');
}
