/**
 * Slow subscribers: a subscriber whose unsent bytes would pass the cap (`maxQueuedBytes`) when a published message
 * arrives is handled by the policy, so one peer that stops reading cannot grow the server's memory or hold the
 * others back. The bytes counted are those left over from earlier event-loop turns: what one turn publishes leaves
 * together at its end, so a burst is not mistaken for slowness (memory per subscriber: the cap plus one turn).
 * - `'drop'`: the message is not sent to it, and counted;
 * - `'close'`: the connection is closed with 1008 (RFC 6455 §7.4.1, policy violation);
 * - `'latest'`: only the newest message of each topic is kept for it and sent once its socket has drained (older
 *   ones it had not been sent are replaced, and counted). A topic's messages stay in order; topics may reorder.
 * A message always goes when nothing is pending, whatever its size.
 * @packageDocumentation
 */
import type { Published } from './published.js';

/** What happens to a subscriber too slow for its messages. */
export type SlowSubscriberPolicy = 'drop' | 'close' | 'latest';

/** Counts of what pub/sub did, for one context. Every field only grows. */
export interface PubSubStats {
  /** Messages published (accepted by `publish`). */
  published: number;
  /** Deliveries: one per message queued to one subscriber. */
  delivered: number;
  /** Deliveries skipped by the `'drop'` policy (or because the connection was sending a fragmented message). */
  dropped: number;
  /** Messages replaced by a newer one of the same topic under the `'latest'` policy. */
  conflated: number;
  /** Subscribers closed with 1008 by the `'close'` policy. */
  closedSlow: number;
  /** Gaps reported (messages this node may have missed; see `onGap`). */
  gaps: number;
  /** Messages known to be missing, summed over the gaps that could count them. */
  missed: number;
  /** Backplane failures (a publish it could not take, a lost link...). */
  backplaneErrors: number;
}

/** One subscriber's counts. */
export interface SubscriberStats {
  /** Messages not sent to it (`'drop'`). */
  dropped: number;
  /** Messages replaced by newer ones before it could take them (`'latest'`). */
  conflated: number;
}

/** @internal What a delivery needs to know: the cap, the policy, and where to count. */
export interface DeliveryLimits {
  maxQueuedBytes: number;
  policy: SlowSubscriberPolicy;
  stats: PubSubStats;
}

/** @internal A subscriber's state beyond its topic list, made on first need. */
export class SubscriberState {
  dropped = 0;
  conflated = 0;
  /** `'latest'`: the newest message per topic waiting for the socket to drain (null when none waits). */
  latest: Map<string, Published> | null = null;
  /** Topics being resumed: live messages held until the missed ones were sent, and their bytes. */
  recovering: Map<string, Published[]> | null = null;
  recoveringBytes = 0;
  /** Presence: the member this connection joined each topic as. */
  members: Map<string, string> | null = null;
}

/** @internal Keeps `message` as the newest of its topic for a lagging subscriber; true when it replaced one. */
export function keepLatest(state: SubscriberState, message: Published, limits: DeliveryLimits): void {
  const latest = (state.latest ??= new Map());
  if (latest.has(message.topic)) {
    state.conflated++;
    limits.stats.conflated++;
  }
  latest.set(message.topic, message);
}
