/**
 * What both Redis modes share: the node's identity, the user's client (commands) and the node's subscriber link,
 * one channel subscription per topic with local subscribers, presence, failure reporting and closing.
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import type { Backplane, BackplaneHost, BackplaneMessage, HistoryResult, Position } from '../api/backplane.js';
import { BackplaneError } from '../errors.js';
import { removeListener, type ChannelListener, type RedisClientLike } from './client.js';
import { RedisLink } from './link.js';
import { RedisPresence } from './presence.js';
import { topicKeys, type TopicKeys } from './wire.js';

/** Settings both modes take. */
export interface RedisCommonOptions {
  /** A node-redis client (`createClient()` from `redis`, v4 or v5): commands go through it. Connected if it is not. */
  client: RedisClientLike;
  /** The connection that subscribes to channels (default: `client.duplicate()`, made, connected and closed here). */
  subscriber?: RedisClientLike;
  /** Prefix of every key and channel (default `nopoll`). */
  prefix?: string;
  /** Presence across nodes: on with `true` or its settings (default off). */
  presence?: boolean | { ttlMs?: number };
  /** Publishes waiting for Redis at once before `publish` rejects (default 10000). */
  maxPendingPublishes?: number;
}

/** @internal The shared part of both modes. */
export abstract class RedisBackplaneBase implements Backplane {
  /** This node's name in the backplane (random per backplane object). */
  readonly nodeId = randomBytes(6).toString('base64url');
  /** Presence, when enabled. */
  readonly presence?: RedisPresence;
  protected readonly client: RedisClientLike;
  protected readonly link: RedisLink;
  protected readonly prefix: string;
  protected readonly maxPending: number;
  protected host: BackplaneHost | null = null;
  protected closed = false;
  readonly #listeners = new Map<string, ChannelListener>();
  readonly #onClientError: (error: Error) => void;

  constructor(options: RedisCommonOptions) {
    const client = options.client;
    if (
      client === null ||
      typeof client !== 'object' ||
      typeof client.sendCommand !== 'function' ||
      typeof client.duplicate !== 'function'
    ) {
      throw new TypeError('client must be a node-redis client (createClient() from the redis package)');
    }
    this.client = client;
    this.prefix = options.prefix ?? 'nopoll';
    if (typeof this.prefix !== 'string' || this.prefix.length === 0)
      throw new TypeError('prefix must be a non-empty string');
    this.maxPending = options.maxPendingPublishes ?? 10_000;
    if (!Number.isSafeInteger(this.maxPending) || this.maxPending < 1)
      throw new RangeError('maxPendingPublishes must be an integer >= 1');
    // Without a listener, node-redis's 'error' event would end the process: reported instead.
    this.#onClientError = (error) => this.report(new BackplaneError(`redis: ${error.message}`, { cause: error }));
    client.on('error', this.#onClientError);
    if (!client.isOpen)
      client
        .connect()
        .catch((error: unknown) =>
          this.report(new BackplaneError(`cannot connect to redis: ${String(error)}`, { cause: error })),
        );
    this.link = new RedisLink(client, options.subscriber, {
      down: () => this.linkDown(),
      up: () => this.linkUp(),
      error: (error) => this.report(error),
    });
    if (options.presence) {
      const ttlMs = typeof options.presence === 'object' ? options.presence.ttlMs : undefined;
      this.presence = new RedisPresence(client, this.prefix, this.nodeId, ttlMs, (error) => this.report(error));
    }
  }

  /** @internal Backplane. */
  open(host: BackplaneHost): void {
    if (this.host !== null) throw new BackplaneError('this backplane already serves a context');
    this.host = host;
  }

  /** @internal Backplane: receive `topic` from now on. */
  async subscribe(topic: string): Promise<void> {
    if (this.closed) throw new BackplaneError('the backplane is closed');
    const listener: ChannelListener = (message) => {
      if (this.#listeners.get(topic) === listener) this.received(topic, message);
    };
    this.#listeners.set(topic, listener);
    this.subscribing(topic);
    await this.link.subscribe(this.keys(topic).channel, listener);
    if (this.#listeners.get(topic) === listener) await this.subscribed(topic);
  }

  /** @internal Backplane: stop receiving `topic`. */
  unsubscribe(topic: string): void {
    const listener = this.#listeners.get(topic);
    if (listener === undefined) return;
    this.#listeners.delete(topic);
    this.unsubscribed(topic);
    this.link.unsubscribe(this.keys(topic).channel, listener);
  }

  /** The topics this node receives. */
  get topics(): IterableIterator<string> {
    return this.#listeners.keys();
  }

  /** True while the subscriber connection is up. */
  get linkReady(): boolean {
    return this.link.ready;
  }

  /** @internal Backplane. */
  abstract publish(message: Omit<BackplaneMessage, 'offset' | 'epoch'>): Promise<Position | null>;
  /** @internal Backplane (streams only). */
  history?(topic: string, since: Position, limit: number): Promise<HistoryResult>;

  /** Stops receiving, ends presence and closes the subscriber connection it made. The client stays yours. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#listeners.clear();
    this.closing();
    await this.presence?.close();
    await this.link.close();
    removeListener(this.client, 'error', this.#onClientError);
  }

  /** Redis names of `topic`. */
  protected keys(topic: string): TopicKeys {
    return topicKeys(this.prefix, topic);
  }

  /** Reports a failure to the node (never thrown). */
  protected report(error: Error): void {
    if (this.host !== null) this.host.error(error);
  }

  /** A channel message of `topic` arrived. */
  protected abstract received(topic: string, message: Buffer): void;
  /** `topic` is about to be subscribed (its channel subscription is being made). */
  protected abstract subscribing(topic: string): void;
  /** The channel subscription of `topic` is in place. */
  protected abstract subscribed(topic: string): Promise<void>;
  /** `topic` is no longer received. */
  protected abstract unsubscribed(topic: string): void;
  /** The subscriber connection dropped. */
  protected abstract linkDown(): void;
  /** The subscriber connection is back (its channels subscribed again). */
  protected abstract linkUp(): void;
  /** The backplane is closing. */
  protected abstract closing(): void;
}
