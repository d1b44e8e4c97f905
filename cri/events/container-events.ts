// The GetContainerEvents feed: CREATED / STARTED / STOPPED / DELETED events fanned out to every
// open stream, in the order they happened. At most MAX_SUBSCRIBERS streams: the oldest one is
// evicted for a new one, and told so (its stream is ended with a status, never left silent).
import { runtime } from '../../proto/cri-wire.js';

export type ContainerEvent = runtime.v1.ContainerEventResponse.$Properties;
export type EventSink = (e: ContainerEvent) => void;
/** Called once when the hub drops a subscriber on its own (cap reached, or its sink threw). */
export type EvictedHandler = (reason: string) => void;

export const MAX_SUBSCRIBERS = 64;

export class ContainerEventHub {
  readonly #sinks = new Map<EventSink, EvictedHandler | undefined>();

  /** Adds a listener; returns the function that removes it. The oldest listener goes past the cap. */
  subscribe(sink: EventSink, onEvicted?: EvictedHandler): () => void {
    if (this.#sinks.size >= MAX_SUBSCRIBERS) {
      const oldest = this.#sinks.keys().next().value;
      if (oldest) this.#evict(oldest, `more than ${MAX_SUBSCRIBERS} subscribers: the oldest is dropped`);
    }
    this.#sinks.set(sink, onEvicted);
    return () => this.#sinks.delete(sink);
  }

  get size(): number {
    return this.#sinks.size;
  }

  emit(e: ContainerEvent): void {
    for (const sink of [...this.#sinks.keys()]) {
      try {
        sink(e);
      } catch (err) {
        this.#evict(sink, `event delivery failed: ${(err as Error).message}`);
      }
    }
  }

  #evict(sink: EventSink, reason: string): void {
    const onEvicted = this.#sinks.get(sink);
    if (!this.#sinks.delete(sink)) return;
    try {
      onEvicted?.(reason);
    } catch {
      // the subscriber is gone either way
    }
  }
}
