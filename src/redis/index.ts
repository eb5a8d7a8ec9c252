/**
 * `nopoll/redis`: the pub/sub backplane on Redis (or Valkey), for contexts in several processes or machines that
 * share topics (docs/pubsub.md). It takes a node-redis client you create (`redis` on npm, v4 or v5, an optional
 * peer dependency); the core of nopoll has no dependency.
 *
 * ```ts
 * import { createClient } from 'redis';
 * import { Context } from 'nopoll';
 * import { redisBackplane } from 'nopoll/redis';
 * const client = createClient({ url: 'redis://127.0.0.1:6379' });
 * await client.connect();
 * const ctx = new Context({ pubsub: { backplane: redisBackplane({ client, mode: 'streams' }) } });
 * ```
 * @packageDocumentation
 */
import type { Backplane } from '../api/backplane.js';
import type { RedisCommonOptions } from './base.js';
import { PubSubModeBackplane } from './pubsub-mode.js';
import { StreamsModeBackplane, type HistoryOptions } from './streams-mode.js';

export type { ChannelListener, RedisClientLike, RedisReply } from './client.js';
export type { RedisCommonOptions } from './base.js';
export type { HistoryOptions } from './streams-mode.js';
export { DEFAULT_PRESENCE_TTL_MS } from './presence.js';

/** Settings of {@link redisBackplane}. */
export interface RedisBackplaneOptions extends RedisCommonOptions {
  /**
   * `'pubsub'` (default): lowest latency, at most once, every gap reported. `'streams'`: every message gets an offset
   * in a capped stream per topic; nodes fill holes from it and clients resume from their last position.
   */
  mode?: 'pubsub' | 'streams';
  /** Streams mode: how much history each topic keeps. */
  history?: HistoryOptions;
}

/** A Redis backplane: a `Backplane` with the node's id, its mode and whether its subscriber link is up. */
export interface RedisBackplane extends Backplane {
  readonly mode: 'pubsub' | 'streams';
  readonly nodeId: string;
  readonly linkReady: boolean;
}

/**
 * Makes a Redis backplane for a context (`new Context({ pubsub: { backplane } })` or
 * `ctx.pubsub.configure({ backplane })`).
 * @throws TypeError / RangeError for a missing client or a bad setting.
 */
export function redisBackplane(options: RedisBackplaneOptions): RedisBackplane {
  const mode = options.mode ?? 'pubsub';
  if (mode === 'pubsub') {
    if (options.history !== undefined) throw new TypeError("history settings need mode: 'streams'");
    return new PubSubModeBackplane(options);
  }
  if (mode === 'streams') return new StreamsModeBackplane(options);
  throw new RangeError(`mode must be 'pubsub' or 'streams', got ${String(mode)}`);
}
