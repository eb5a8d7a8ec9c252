/**
 * A context's topics (docs/pubsub.md): the registry (topic → local subscribers), publishing, and, with a
 * {@link Backplane}, the link to other processes. A published message is framed once and the same bytes are queued
 * to every subscriber (published.ts, conn-topics.ts); each subscriber's writes leave once per event-loop turn
 * (transport/turn-cork.ts). Without a backplane everything happens in this process, synchronously, in publish
 * order. With one, a publish goes out through it and every node (this one too) delivers what comes back, in the
 * backplane's order; a node receives a topic only while it has local subscribers.
 * @packageDocumentation
 */
import { BackplaneError, InvalidStateError } from '../errors.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import { frameServerText } from '../protocol/shared-frame.js';
import type { Backplane, BackplaneHost, BackplaneMessage, GapInfo, Position } from './backplane.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import { gapEnvelope, parsePosition } from './pubsub-envelope.js';
import { PUBSUB_DEFAULTS, type PublishOptions, type PubSubOptions } from './pubsub-options.js';
import { PubSubPresence, type Presence } from './pubsub-presence.js';
import { Published } from './published.js';
import { resumeTopic, type Recovery } from './pubsub-resume.js';
import type { DeliveryLimits, PubSubStats, SlowSubscriberPolicy } from './slow-subscriber.js';
import { checkTopic, Topic } from './topic.js';

export type { Presence } from './pubsub-presence.js';
export type { Recovery } from './pubsub-resume.js';
export type { PubSubStats, SlowSubscriberPolicy, SubscriberStats } from './slow-subscriber.js';
export { PUBSUB_DEFAULTS, type PublishOptions, type PubSubOptions, type SubscribeOptions } from './pubsub-options.js';

// Exclusions waiting for their message to come back through the backplane; the oldest go past this many.
const MAX_PENDING_EXCLUDES = 10_000;

/** A context's topics; reach it as `ctx.pubsub`. See the module comment. */
export class PubSub {
  /** The context whose connections subscribe. */
  readonly ctx: Context;
  /** Called for every gap (messages this node may have missed); the count is also in {@link stats}. */
  onGap: ((gap: GapInfo) => void) | null = null;
  /** Called for every backplane failure; by default they are logged (`ctx.log`, warning). */
  onError: ((error: Error) => void) | null = null;

  readonly #topics = new Map<string, Topic>();
  readonly #stats: PubSubStats = {
    published: 0,
    delivered: 0,
    dropped: 0,
    conflated: 0,
    closedSlow: 0,
    gaps: 0,
    missed: 0,
    backplaneErrors: 0,
  };
  readonly #limits: DeliveryLimits = {
    maxQueuedBytes: PUBSUB_DEFAULTS.maxQueuedBytes,
    policy: PUBSUB_DEFAULTS.slowSubscriber,
    stats: this.#stats,
  };
  #maxTopicsPerConnection = PUBSUB_DEFAULTS.maxTopicsPerConnection;
  #maxTopicLength = PUBSUB_DEFAULTS.maxTopicLength;
  #maxRecovered = PUBSUB_DEFAULTS.maxRecoveredMessages;
  #backplane: Backplane | null = null;
  readonly #presence = new PubSubPresence();
  // Exclusions by origin token, for messages that go out through the backplane and come back.
  readonly #excluded = new Map<string, Conn>();
  readonly #originPrefix = `${process.pid.toString(36)}.${Math.random().toString(36).slice(2, 8)}.`;
  #originCount = 0;

  /** @internal Made by the context (`ctx.pubsub`). */
  constructor(ctx: Context, options: PubSubOptions = {}) {
    this.ctx = ctx;
    this.configure(options);
  }

  /**
   * Changes settings; the cap and policy apply from the next message on. A backplane can be set once, before or
   * after connections subscribe (topics already held are subscribed on it at once).
   * @throws RangeError / TypeError for a bad value; InvalidStateError for a second backplane.
   */
  configure(options: PubSubOptions): this {
    const int = (value: number | undefined, name: string, min: number): number | undefined => {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < min))
        throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
      return value;
    };
    this.#limits.maxQueuedBytes = int(options.maxQueuedBytes, 'maxQueuedBytes', 1) ?? this.#limits.maxQueuedBytes;
    const policy = options.slowSubscriber;
    if (policy !== undefined && policy !== 'drop' && policy !== 'close' && policy !== 'latest') {
      throw new RangeError(`slowSubscriber must be 'drop', 'close' or 'latest', got ${String(policy)}`);
    }
    this.#limits.policy = policy ?? this.#limits.policy;
    this.#maxTopicsPerConnection =
      int(options.maxTopicsPerConnection, 'maxTopicsPerConnection', 1) ?? this.#maxTopicsPerConnection;
    this.#maxTopicLength = int(options.maxTopicLength, 'maxTopicLength', 1) ?? this.#maxTopicLength;
    this.#maxRecovered = int(options.maxRecoveredMessages, 'maxRecoveredMessages', 0) ?? this.#maxRecovered;
    if (options.backplane) this.#attach(options.backplane);
    return this;
  }

  #attach(backplane: Backplane): void {
    if (this.#backplane === backplane) return;
    if (this.#backplane !== null) throw new InvalidStateError('this context already has a backplane');
    if (typeof backplane.open !== 'function' || typeof backplane.publish !== 'function')
      throw new TypeError('not a Backplane');
    this.#backplane = backplane;
    const host: BackplaneHost = {
      deliver: (message) => this.#fromBackplane(message),
      gap: (gap) => this.#gap(gap),
      error: (error) => this.#error(error),
    };
    backplane.open(host);
    this.#presence.backplane = backplane.presence ?? null;
    for (const topic of this.#topics.values()) {
      topic.epoch = null;
      topic.ready = this.#subscribeRemote(topic.name);
      for (const member of topic.members?.keys() ?? []) backplane.presence?.join(topic.name, member);
    }
  }

  /** The backplane, if one was set. */
  get backplane(): Backplane | null {
    return this.#backplane;
  }

  /** The slow-subscriber settings in force. */
  get limits(): { maxQueuedBytes: number; slowSubscriber: SlowSubscriberPolicy } {
    return { maxQueuedBytes: this.#limits.maxQueuedBytes, slowSubscriber: this.#limits.policy };
  }

  /** What pub/sub did so far (a copy). */
  get stats(): PubSubStats {
    return { ...this.#stats };
  }

  /** Local subscribers of `topic` (`nopoll_..._subscriber_count`; Bun's `subscriberCount`). */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.subscribers.size ?? 0;
  }

  /** The topics that have local subscribers. */
  topics(): IterableIterator<string> {
    return this.#topics.keys();
  }

  // ---- subscriptions ----

  /** @internal `conn.subscribe`. */
  subscribe(conn: Conn, topic: string, member?: string): boolean {
    checkTopic(topic, this.#maxTopicLength);
    if (
      member !== undefined &&
      (typeof member !== 'string' || member.length === 0 || member.length > this.#maxTopicLength)
    ) {
      throw new TypeError('a presence member is a non-empty string within maxTopicLength');
    }
    if (conn.isSubscribed(topic)) return false;
    if (conn.topicCount >= this.#maxTopicsPerConnection) {
      throw new RangeError(`connection ${conn.id} already holds ${conn.topicCount} topics (maxTopicsPerConnection)`);
    }
    if (conn.state === 'closed') return false;
    conn.addTopic(topic);
    let entry = this.#topics.get(topic);
    if (entry === undefined) {
      entry = new Topic(topic, this.#backplane === null);
      this.#topics.set(topic, entry);
      if (this.#backplane !== null) entry.ready = this.#subscribeRemote(topic);
    }
    entry.subscribers.add(conn);
    if (member !== undefined) this.#presence.join(entry, conn, member);
    return true;
  }

  /** @internal `conn.unsubscribe`. */
  unsubscribe(conn: Conn, topic: string): boolean {
    if (!conn.removeTopic(topic)) return false;
    this.#leave(conn, topic);
    return true;
  }

  #leave(conn: Conn, name: string): void {
    const topic = this.#topics.get(name);
    if (topic === undefined) return;
    topic.subscribers.delete(conn);
    this.#presence.leave(topic, conn);
    if (topic.subscribers.size > 0) return;
    this.#topics.delete(name);
    this.#backplane?.unsubscribe(name);
  }

  /** @internal The connection ended: it leaves every topic. */
  connEnded(conn: Conn): void {
    for (const topic of conn.takeTopics()) this.#leave(conn, topic);
  }

  #subscribeRemote(topic: string): Promise<void> {
    return this.#backplane!.subscribe(topic).then(undefined, (error: unknown) =>
      this.#error(asBackplaneError(error, `subscribing to ${topic}`)),
    );
  }

  /** @internal `conn.resumeTopic`: see resumeTopic. */
  resume(conn: Conn, topic: string, since: Position | string | null, member?: string): Promise<Recovery> {
    checkTopic(topic, this.#maxTopicLength);
    if (conn.isSubscribed(topic)) return Promise.reject(new InvalidStateError(`already subscribed to ${topic}`));
    const position = typeof since === 'string' ? parsePosition(since) : since;
    if (typeof since === 'string' && position === null)
      return Promise.reject(new TypeError(`not a position (EPOCH:OFFSET): ${since}`));
    conn.holdTopic(topic);
    try {
      this.subscribe(conn, topic, member);
    } catch (error) {
      conn.removeTopic(topic);
      return Promise.reject(error);
    }
    return resumeTopic(this.#topics.get(topic)!, conn, position, this.#backplane, this.#maxRecovered, this.#limits);
  }

  // ---- publishing ----

  /**
   * Publishes a message to every subscriber of `topic` (text for a string unless `binary`). Without a backplane it
   * is framed once and queued to every local subscriber now, in publish order. With one it goes out through the
   * backplane and every node, this one too, delivers it when it comes back.
   * @returns the local subscribers it was queued to (0 with a backplane: delivery follows); -1 when the backplane
   * refused it at once (closed).
   * @throws TypeError for text bytes that are not UTF-8 or a bad topic.
   */
  publish(topic: string, data: string | Uint8Array, options: PublishOptions = {}): number {
    checkTopic(topic, this.#maxTopicLength);
    const binary = options.binary ?? typeof data !== 'string';
    const bytes = typeof data === 'string' ? data : toBuffer(data);
    if (!binary && typeof bytes !== 'string' && !isValidUtf8(bytes))
      throw new TypeError('text payload is not valid UTF-8');
    this.#stats.published++;
    const exclude = options.exclude ?? null;
    if (this.#backplane !== null) {
      this.#sendToBackplane(topic, bytes, binary, options.compress, exclude).then(undefined, (error: unknown) =>
        this.#error(asBackplaneError(error, `publishing to ${topic}`)),
      );
      return 0;
    }
    const entry = this.#topics.get(topic);
    if (entry === undefined) return 0;
    const offset = ++entry.offset;
    return this.#fanOut(entry, new Published(topic, bytes, binary, options.compress, offset, entry.epoch), exclude);
  }

  /**
   * Publishes as {@link publish} and resolves once it was taken: with a backplane when it has it (with the
   * message's position when the backplane keeps a history, else null); without one at once, with its local
   * position. Rejects with a `BackplaneError` when the backplane could not take it.
   */
  async publishConfirmed(
    topic: string,
    data: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<Position | null> {
    if (this.#backplane === null) {
      this.publish(topic, data, options);
      const entry = this.#topics.get(topic);
      return entry === undefined ? null : { epoch: entry.epoch!, offset: entry.offset };
    }
    checkTopic(topic, this.#maxTopicLength);
    const binary = options.binary ?? typeof data !== 'string';
    const bytes = typeof data === 'string' ? data : toBuffer(data);
    if (!binary && typeof bytes !== 'string' && !isValidUtf8(bytes))
      throw new TypeError('text payload is not valid UTF-8');
    this.#stats.published++;
    return this.#sendToBackplane(topic, bytes, binary, options.compress, options.exclude ?? null);
  }

  #sendToBackplane(
    topic: string,
    data: string | Buffer,
    binary: boolean,
    compress: boolean | undefined,
    exclude: Conn | null,
  ): Promise<Position | null> {
    let origin: string | null = null;
    // The exclusion has to survive the round trip: only a subscriber of the topic can be excluded from it.
    if (exclude !== null && exclude.isSubscribed(topic)) {
      origin = this.#originPrefix + (++this.#originCount).toString(36);
      this.#excluded.set(origin, exclude);
      if (this.#excluded.size > MAX_PENDING_EXCLUDES) this.#excluded.delete(this.#excluded.keys().next().value!);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data); // kept until sent
    return this.#backplane!.publish({ topic, data: bytes, binary, compress, origin });
  }

  #fanOut(topic: Topic, message: Published, exclude: Conn | null): number {
    const limits = this.#limits;
    let queued = 0;
    for (const conn of topic.subscribers) {
      if (conn !== exclude && conn.deliverPublished(message, limits) > 0) queued++;
    }
    this.#stats.delivered += queued;
    return queued;
  }

  // ---- from the backplane ----

  #fromBackplane(message: BackplaneMessage): void {
    let exclude: Conn | null = null;
    if (message.origin !== null) {
      exclude = this.#excluded.get(message.origin) ?? null;
      if (exclude !== null) this.#excluded.delete(message.origin);
    }
    const topic = this.#topics.get(message.topic);
    if (topic === undefined) return;
    if (message.offset !== null) topic.offset = message.offset;
    if (message.epoch !== null) topic.epoch = message.epoch;
    const published = new Published(
      message.topic,
      message.data,
      message.binary,
      message.compress,
      message.offset,
      message.epoch,
    );
    try {
      this.#fanOut(topic, published, exclude);
    } catch (error) {
      this.#error(asBackplaneError(error, `delivering a message of ${message.topic}`));
    }
  }

  #gap(gap: GapInfo): void {
    this.#stats.gaps++;
    if (gap.missed !== null) this.#stats.missed += gap.missed;
    const topic = this.#topics.get(gap.topic);
    if (topic !== undefined) {
      // nopoll.pubsub.v1 subscribers are told, with one frame built for all of them.
      const json = gapEnvelope(gap.topic, gap.missed);
      let frame: Buffer | null = null;
      for (const conn of topic.subscribers) {
        if (conn.wantsEnvelopes) conn.sendControl((frame ??= frameServerText(json)), json);
      }
    }
    if (this.onGap !== null) this.#call(() => this.onGap?.(gap));
    else
      this.ctx.log(
        'warning',
        `pubsub: gap on ${gap.topic} (${gap.reason}${gap.missed === null ? '' : `, ${gap.missed} missed`})`,
      );
  }

  #error(error: Error): void {
    this.#stats.backplaneErrors++;
    if (this.onError !== null) this.#call(() => this.onError?.(error));
    else this.ctx.log('warning', `pubsub: ${error.message}`);
  }

  #call(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.ctx.handlerError(error, null);
    }
  }

  // ---- presence ----

  /**
   * Who is on `topic`: members that joined it (`subscribe(topic, { member })`), on every node with a backplane that
   * offers presence (members of a node that stopped refreshing them expire), else in this context.
   */
  presence(topic: string): Promise<Presence> {
    checkTopic(topic, this.#maxTopicLength);
    return this.#presence.list(topic, this.#topics.get(topic));
  }

  /** Closes the backplane (what it opened; clients passed in stay yours). Subscriptions stay, in this process. */
  async close(): Promise<void> {
    const backplane = this.#backplane;
    this.#backplane = null;
    this.#presence.backplane = null;
    this.#excluded.clear();
    if (backplane !== null) await backplane.close();
  }
}

function toBuffer(data: Uint8Array): Buffer {
  if (!(data instanceof Uint8Array)) throw new TypeError('a message is a string, a Buffer or a Uint8Array');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}

function asBackplaneError(error: unknown, doing: string): Error {
  if (error instanceof BackplaneError) return error;
  return new BackplaneError(`${doing}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
