/**
 * The options of a context's topics, of one publish and of one subscription, and their defaults (pubsub.ts uses
 * them; docs/pubsub.md describes them).
 * @packageDocumentation
 */
import type { Backplane } from './backplane.js';
import type { Conn } from './conn.js';
import type { SlowSubscriberPolicy } from './slow-subscriber.js';

/** Pub/sub settings of a context. Every field is optional. */
export interface PubSubOptions {
  /** Unsent bytes a subscriber may have before the slow-subscriber policy applies (default 1 MiB). */
  maxQueuedBytes?: number;
  /** What happens to a slow subscriber: `'drop'` (default), `'close'` (1008) or `'latest'`. See slow-subscriber.ts. */
  slowSubscriber?: SlowSubscriberPolicy;
  /** Most topics one connection may hold (default 1000). */
  maxTopicsPerConnection?: number;
  /** Longest topic name, in UTF-16 units (default 1024). */
  maxTopicLength?: number;
  /** Most messages a resume replays; a longer gap is not recovered (default 1000). */
  maxRecoveredMessages?: number;
  /** Carries messages to and from other processes (e.g. `redisBackplane` from `nopoll/redis`); none by default. */
  backplane?: Backplane | null;
}

/** Options of one publish. */
export interface PublishOptions {
  /** Binary message (default: binary for bytes, text for a string). */
  binary?: boolean;
  /** Compress it for subscribers with permessage-deflate: true, false, or by default each connection's threshold. */
  compress?: boolean;
  /** A connection that does not get it (usually the one it came from). */
  exclude?: Conn | null;
}

/** Options of `conn.subscribe` and `conn.resumeTopic`. */
export interface SubscribeOptions {
  /** Join the topic's presence as this member (see `PubSub.presence`). */
  member?: string;
}

/** Defaults of {@link PubSubOptions}. */
export const PUBSUB_DEFAULTS = {
  maxQueuedBytes: 1024 * 1024,
  slowSubscriber: 'drop' as SlowSubscriberPolicy,
  maxTopicsPerConnection: 1000,
  maxTopicLength: 1024,
  maxRecoveredMessages: 1000,
};
