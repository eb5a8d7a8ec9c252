/**
 * The receiving side of the Redis backplane: one subscriber connection per node (a Redis connection that
 * subscribed can do nothing else), subscribed to the channel of each topic the node serves and nothing more. It
 * reports when the connection drops (what is published meanwhile does not reach this node) and when it is back
 * (node-redis reconnects and subscribes again by itself).
 * @packageDocumentation
 */
import { BackplaneError } from '../errors.js';
import { closeClient, removeListener, type ChannelListener, type RedisClientLike } from './client.js';

/** What the link reports. */
export interface LinkEvents {
  /** The connection dropped (after having been ready). */
  down(): void;
  /** The connection is ready again after a drop; its channels are subscribed again. */
  up(): void;
  /** A failure, for the record (never thrown). */
  error(error: Error): void;
}

/** One node's subscriber connection. */
export class RedisLink {
  readonly #client: RedisClientLike;
  readonly #owned: boolean;
  readonly #events: LinkEvents;
  #ready = false;
  #dropped = false;
  #closed = false;
  readonly #onError: (error: Error) => void;
  readonly #onReady: () => void;
  readonly #onReconnecting: () => void;

  /** Uses `subscriber` when given (left open at the end), else a duplicate of `client` (closed at the end). */
  constructor(client: RedisClientLike, subscriber: RedisClientLike | undefined, events: LinkEvents) {
    this.#client = subscriber ?? client.duplicate();
    this.#owned = subscriber === undefined;
    this.#events = events;
    this.#onError = (error) => {
      this.#lost();
      events.error(new BackplaneError(`redis subscriber connection: ${error.message}`, { cause: error }));
    };
    this.#onReconnecting = () => this.#lost();
    this.#onReady = () => {
      if (this.#closed) return;
      this.#ready = true;
      if (this.#dropped) {
        this.#dropped = false;
        events.up();
      }
    };
    this.#client.on('error', this.#onError);
    this.#client.on('reconnecting', this.#onReconnecting);
    this.#client.on('ready', this.#onReady);
    if (this.#client.isReady) this.#ready = true;
    else if (!this.#client.isOpen) {
      // Connecting sets isOpen at once: subscriptions made meanwhile wait in node-redis's queue.
      this.#client
        .connect()
        .catch((error: unknown) =>
          events.error(new BackplaneError(`cannot connect the redis subscriber: ${String(error)}`, { cause: error })),
        );
    }
  }

  #lost(): void {
    if (!this.#ready || this.#closed) return;
    this.#ready = false;
    this.#dropped = true;
    this.#events.down();
  }

  /** True while the connection is ready. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Subscribes to `channel`; resolves once Redis confirmed it (messages published from then on arrive). */
  async subscribe(channel: string, listener: ChannelListener): Promise<void> {
    if (this.#closed) throw new BackplaneError('the backplane is closed');
    await this.#client.subscribe(channel, listener, true);
  }

  /** Unsubscribes from `channel`. */
  unsubscribe(channel: string, listener: ChannelListener): void {
    if (this.#closed) return;
    this.#client
      .unsubscribe(channel, listener, true)
      .catch((error: unknown) =>
        this.#events.error(new BackplaneError(`unsubscribing ${channel}: ${String(error)}`, { cause: error })),
      );
  }

  /** Stops: the listeners go, and the connection too when the link made it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    removeListener(this.#client, 'reconnecting', this.#onReconnecting);
    removeListener(this.#client, 'ready', this.#onReady);
    if (this.#owned) await closeClient(this.#client);
    // Kept until the client is closed: a late error must still find a listener.
    removeListener(this.#client, 'error', this.#onError);
    if (!this.#owned) return;
    this.#client.on('error', ignore);
  }
}

function ignore(): void {
  /* a closed link's late errors */
}
