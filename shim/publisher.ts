// Events to the daemon (docs/shim.md "Exits and events"): `Events/Forward` on TTRPC_ADDRESS, one
// ordered queue drained by one sender that waits for each reply (5 s deadline). A failed Forward
// is retried in the background after 1, 2, 3, 4, 5 s (like the runc shim) while the queue moves
// on; the connection is dialed lazily and re-dialed after it closes.
import { UnavailableError, silentLogger, type Logger } from '../common/index.js';
import {
  EVENTS_SERVICE, TtrpcClient, createServiceClient, encodeEvent, eventsServiceMethods, toTimestamp, type ServiceClient, type TaskEventInput,
} from '../proto/index.js';

const FORWARD_TIMEOUT_MS = 5_000;
const RETRY_DELAYS_MS = [1_000, 2_000, 3_000, 4_000, 5_000];

interface Queued {
  topic: string;
  envelope: unknown;
}

export interface Publisher {
  publish(input: TaskEventInput): void;
  /** Stops taking events and waits (at most `timeoutMs`) for the queue to drain. */
  close(timeoutMs: number): Promise<void>;
}

export class TtrpcPublisher implements Publisher {
  private readonly queue: Queued[] = [];
  private draining: Promise<void> | undefined;
  private client: TtrpcClient | undefined;
  private events: ServiceClient<typeof eventsServiceMethods> | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly address: string,
    private readonly namespace: string,
    private readonly log: Logger = silentLogger,
  ) {}

  publish(input: TaskEventInput): void {
    if (this.closed) {
      this.log.warn({ topic: input.topic }, 'publisher closed: event dropped');
      return;
    }
    const { topic, event } = encodeEvent(input);
    // The timestamp is the publish time, as the runc shim stamps it.
    this.queue.push({ topic, envelope: { timestamp: toTimestamp(new Date()), namespace: this.namespace, topic, event } });
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const until = Date.now() + timeoutMs;
    while ((this.draining || this.retries.size > 0) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const t of this.retries) clearTimeout(t);
    await this.client?.close();
  }

  private async drain(): Promise<void> {
    for (let item = this.queue.shift(); item; item = this.queue.shift()) {
      try {
        await this.forward(item);
      } catch (err) {
        this.log.warn({ err, topic: item.topic }, 'forwarding event failed, retrying in the background');
        this.retry(item, 0);
      }
    }
  }

  private retry(item: Queued, attempt: number): void {
    const delay = RETRY_DELAYS_MS[attempt];
    if (delay === undefined) {
      this.log.error({ topic: item.topic }, 'evicting event from queue after 5 retries');
      return;
    }
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.forward(item).catch((err: unknown) => {
        this.log.warn({ err, topic: item.topic, attempt: attempt + 1 }, 'retrying event failed');
        this.retry(item, attempt + 1);
      });
    }, delay);
    this.retries.add(timer);
  }

  private async forward(item: Queued): Promise<void> {
    const events = await this.connect();
    try {
      await events.Forward({ envelope: item.envelope as never }, { timeoutMs: FORWARD_TIMEOUT_MS });
    } catch (err) {
      if (this.client?.closed) this.dropClient();
      throw err;
    }
  }

  private async connect(): Promise<ServiceClient<typeof eventsServiceMethods>> {
    if (this.events && this.client && !this.client.closed) return this.events;
    if (!this.address) throw new UnavailableError('TTRPC_ADDRESS is not set: events cannot be forwarded');
    const client = await TtrpcClient.connect(this.address, {
      namespace: this.namespace,
      connectTimeoutMs: FORWARD_TIMEOUT_MS,
      logger: this.log,
      onClose: () => {
        if (this.client === client) this.dropClient();
      },
    });
    this.client = client;
    this.events = createServiceClient(client, EVENTS_SERVICE, eventsServiceMethods);
    return this.events;
  }

  private dropClient(): void {
    const c = this.client;
    this.client = undefined;
    this.events = undefined;
    void c?.close();
  }
}
