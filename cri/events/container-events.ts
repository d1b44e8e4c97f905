// The GetContainerEvents feed: CREATED / STARTED / STOPPED / DELETED events fanned out to every
// open stream, in the order they happened. A stream that cannot keep up (kubelet stopped reading)
// is dropped rather than buffering without bound.
import { runtime } from '../../proto/cri.js';

export type ContainerEvent = runtime.v1.ContainerEventResponse.$Properties;
export type EventSink = (e: ContainerEvent) => void;

const MAX_SUBSCRIBERS = 64;

export class ContainerEventHub {
  readonly #sinks = new Set<EventSink>();

  /** Adds a listener; returns the function that removes it. Oldest listener goes past the cap. */
  subscribe(sink: EventSink): () => void {
    if (this.#sinks.size >= MAX_SUBSCRIBERS) {
      const oldest = this.#sinks.values().next().value;
      if (oldest) this.#sinks.delete(oldest);
    }
    this.#sinks.add(sink);
    return () => this.#sinks.delete(sink);
  }

  get size(): number {
    return this.#sinks.size;
  }

  emit(e: ContainerEvent): void {
    for (const sink of [...this.#sinks]) {
      try {
        sink(e);
      } catch {
        this.#sinks.delete(sink);
      }
    }
  }
}
