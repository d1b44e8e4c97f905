// Pinned images (containerd 2.x `pinned_images`): images the runtime needs that kubelet's image GC
// must leave alone, reported as CRI `Image.pinned`. A pinned reference names whatever image it
// resolves to now, so an image pulled after start, or re-tagged, is pinned as soon as it is there.
import type { ImageRecord } from './image-store.js';

/** The ids of the images `refs` name today (refs of absent images name none). */
export function pinnedImageIds(images: { status(ref: string): ImageRecord | undefined }, refs: Iterable<string>): Set<string> {
  const ids = new Set<string>();
  for (const ref of refs) {
    const id = images.status(ref)?.id;
    if (id !== undefined) ids.add(id);
  }
  return ids;
}
