/**
 * A connection's topics (docs/pubsub.md): subscribing, unsubscribing, resuming from a position, and taking
 * published messages. The registry and the fan-out are the context's pub/sub (pubsub.ts); this file decides, per
 * subscriber, which frame it gets (the shared plain frame, a shared compressed one, or its own), applies the
 * slow-subscriber cap, and holds messages while a resume replays what was missed.
 * @packageDocumentation
 */
import { PolicyViolationError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import { frameServerText } from '../protocol/shared-frame.js';
import { sharesCompression } from '../transport/shared-deflate.js';
import type { Transport } from '../transport/transport.js';
import type { Position } from './backplane.js';
import { ConnReceiving } from './conn-receive.js';
import type { Conn } from './conn.js';
import type { PublishOptions, Recovery, SubscribeOptions } from './pubsub.js';
import { PUBSUB_PROTOCOL } from './pubsub-envelope.js';
import type { Published } from './published.js';
import { keepLatest, SubscriberState, type DeliveryLimits, type SubscriberStats } from './slow-subscriber.js';

/** Topics; see {@link Conn}. */
export abstract class ConnTopics extends ConnReceiving {
  // The topics held: one as a string (most connections), more as a Set. Null when none.
  #topics: string | Set<string> | null = null;
  #subscriber: SubscriberState | null = null;

  /**
   * Subscribes to `topic` (idempotent): published messages reach this connection until it unsubscribes or ends.
   * With `member`, it also joins the topic's presence as that member.
   * @returns true when newly subscribed, false when it already was.
   * @throws TypeError / RangeError for a topic that is not a non-empty string within `maxTopicLength`, or past
   * `maxTopicsPerConnection`.
   */
  subscribe(topic: string, options?: SubscribeOptions): boolean {
    return this.ctx.pubsub.subscribe(this as unknown as Conn, topic, options?.member);
  }

  /** Unsubscribes from `topic`. @returns whether it was subscribed. */
  unsubscribe(topic: string): boolean {
    return this.ctx.pubsub.unsubscribe(this as unknown as Conn, topic);
  }

  /**
   * Subscribes to `topic` and sends first what was published after `since` (a {@link Position} or `EPOCH:OFFSET`),
   * in order, when the history still covers it; live messages are held meanwhile and follow without gap or
   * duplicate. Resolves with whether it recovered (false: nothing replayed, the application should reload its
   * state). On a `nopoll.pubsub.v1` connection the frame `{"topic","recovered"}` goes out before the replay.
   * @throws as {@link subscribe}; InvalidStateError when already subscribed to `topic`.
   */
  resumeTopic(topic: string, since: Position | string | null, options?: SubscribeOptions): Promise<Recovery> {
    return this.ctx.pubsub.resume(this as unknown as Conn, topic, since, options?.member);
  }

  /** Publishes to `topic` from this connection: as `ctx.publish`, excluding this connection unless `exclude` says otherwise. */
  publish(topic: string, data: string | Uint8Array, options: PublishOptions = {}): number {
    return this.ctx.pubsub.publish(topic, data, {
      ...options,
      exclude: options.exclude === undefined ? (this as unknown as Conn) : options.exclude,
    });
  }

  /** The topics this connection is subscribed to (a copy). */
  get topics(): ReadonlySet<string> {
    const held = this.#topics;
    return held === null ? new Set() : typeof held === 'string' ? new Set([held]) : new Set(held);
  }

  /** Whether this connection is subscribed to `topic`. */
  isSubscribed(topic: string): boolean {
    const held = this.#topics;
    return held === topic || (typeof held === 'object' && held !== null && held.has(topic));
  }

  /** What the slow-subscriber policy did to this connection. */
  get subscriberStats(): SubscriberStats {
    const state = this.#subscriber;
    return { dropped: state?.dropped ?? 0, conflated: state?.conflated ?? 0 };
  }

  // ---- called by the context's pub/sub ----

  /** @internal How many topics are held. */
  get topicCount(): number {
    const held = this.#topics;
    return held === null ? 0 : typeof held === 'string' ? 1 : held.size;
  }

  /** @internal Adds `topic` to the list; false when it was there. */
  addTopic(topic: string): boolean {
    const held = this.#topics;
    if (held === null) {
      this.#topics = topic;
      return true;
    }
    if (typeof held === 'string') {
      if (held === topic) return false;
      this.#topics = new Set([held, topic]);
      return true;
    }
    if (held.has(topic)) return false;
    held.add(topic);
    return true;
  }

  /** @internal Removes `topic` from the list; false when it was not there. */
  removeTopic(topic: string): boolean {
    const held = this.#topics;
    if (held === topic) {
      this.#topics = null;
    } else if (typeof held === 'object' && held !== null && held.delete(topic)) {
      if (held.size === 0) this.#topics = null;
    } else {
      return false;
    }
    const state = this.#subscriber;
    if (state?.recovering?.delete(topic)) this.recoveringDone(state);
    return true;
  }

  /** @internal Takes the whole list (the connection ended). */
  takeTopics(): string[] {
    const held = this.#topics;
    this.#topics = null;
    return held === null ? [] : typeof held === 'string' ? [held] : [...held];
  }

  /** @internal The per-connection state, made on first need. */
  subscriberState(): SubscriberState {
    return (this.#subscriber ??= new SubscriberState());
  }

  /** @internal Presence: records the member this connection joined `topic` as. */
  setMember(topic: string, member: string): void {
    (this.subscriberState().members ??= new Map()).set(topic, member);
  }

  /** @internal Presence: forgets and returns the member this connection joined `topic` as, if any. */
  takeMember(topic: string): string | undefined {
    const members = this.#subscriber?.members;
    if (members === undefined || members === null) return undefined;
    const member = members.get(topic);
    if (member !== undefined) members.delete(topic);
    return member;
  }

  /** @internal Whether messages of this connection are `nopoll.pubsub.v1` envelopes. */
  get wantsEnvelopes(): boolean {
    return this._acceptedProtocol === PUBSUB_PROTOCOL && this.role === 'listener';
  }

  /**
   * @internal Delivers a published message: held while the topic is being resumed, kept as the newest while the
   * connection lags (`'latest'`), else written, subject to the cap.
   * @returns 1 when queued, 0 when held, dropped or refused, -1 when the connection closed (or was closed).
   */
  deliverPublished(message: Published, limits: DeliveryLimits): number {
    const transport = this._transport;
    if (transport === null || this._state !== 'open') return 0;
    const state = this.#subscriber;
    if (state !== null) {
      const held = state.recovering?.get(message.topic);
      if (held !== undefined) return this.holdForResume(state, held, message, transport, limits);
      if (state.latest !== null) {
        keepLatest(state, message, limits);
        return 0;
      }
    }
    return this.deliverFrame(transport, message, limits);
  }

  // Picks the frame (shared plain, shared compressed, or this connection's own compression) and sends it.
  /** @internal */
  private deliverFrame(transport: Transport, message: Published, limits: DeliveryLimits): number {
    // Frames of two messages may not interleave (RFC 6455 §5.4): nothing is published into a fragmented send.
    if (transport.sendingFragmented !== 0) return this.countDropped(limits);
    const form = this.wantsEnvelopes ? message.envelope : message.raw;
    const setup = transport.deflateSetup;
    const compressed = setup !== null && (message.compress ?? form.atLeast(setup.threshold));
    let frame: Buffer | null = null;
    if (!transport.isClient && (!compressed || sharesCompression(setup!)))
      frame = compressed ? form.deflatedFrame(setup!) : form.frame();
    // The cap applies to what is left over from earlier turns: a burst published in one turn is not slowness.
    const backlog = transport.backlogBytes;
    if (backlog !== 0 && backlog + (frame !== null ? frame.length : form.bytes.length) > limits.maxQueuedBytes) {
      return this.slowDelivery(transport, message, limits);
    }
    const sent = frame !== null ? transport.sendFrame(frame) : transport.send(form.opcode, form.data, true, compressed);
    if (sent > 0) return 1;
    if (sent < 0 && !transport.open && this._state === 'open') this._state = 'closing';
    return sent < 0 ? -1 : this.countDropped(limits);
  }

  /** @internal */
  private countDropped(limits: DeliveryLimits): number {
    this.subscriberState().dropped++;
    limits.stats.dropped++;
    return 0;
  }

  /** @internal */
  private slowDelivery(transport: Transport, message: Published, limits: DeliveryLimits): number {
    switch (limits.policy) {
      case 'drop':
        return this.countDropped(limits);
      case 'close': {
        limits.stats.closedSlow++;
        const error = new PolicyViolationError(
          `slow subscriber: ${transport.backlogBytes} bytes unsent, cap ${limits.maxQueuedBytes} (maxQueuedBytes)`,
        );
        transport.closeWithError(error, 1008, 'slow subscriber');
        if (this._state === 'open') this._state = 'closing';
        return -1;
      }
      case 'latest': {
        const state = this.subscriberState();
        keepLatest(state, message, limits);
        transport.whenFlushed((error) => this.afterDrain(state, limits, error));
        return 0;
      }
    }
  }

  // 'latest': the socket drained; the newest message of each topic goes now (until the cap is reached again).
  /** @internal */
  private afterDrain(state: SubscriberState, limits: DeliveryLimits, error?: Error): void {
    const latest = state.latest;
    state.latest = null;
    if (error !== undefined || latest === null) return;
    for (const message of latest.values()) this.deliverPublished(message, limits);
  }

  // Resuming: live messages wait behind the replay, within the cap (a resume that lags further is closed, 1008).
  /** @internal */
  private holdForResume(
    state: SubscriberState,
    held: Published[],
    message: Published,
    transport: Transport,
    limits: DeliveryLimits,
  ): number {
    state.recoveringBytes += message.raw.bytes.length;
    if (state.recoveringBytes > limits.maxQueuedBytes) {
      limits.stats.closedSlow++;
      transport.closeWithError(
        new PolicyViolationError('slow subscriber: live messages passed the cap while resuming'),
        1008,
        'slow subscriber',
      );
      if (this._state === 'open') this._state = 'closing';
      return -1;
    }
    held.push(message);
    return 0;
  }

  /** @internal Starts holding live messages of `topic` (a resume begins). */
  holdTopic(topic: string): void {
    (this.subscriberState().recovering ??= new Map()).set(topic, []);
  }

  /**
   * @internal A resume of `topic` ends: the replay goes out, then the live messages held meanwhile, except those the
   * replay or the client already had (same epoch, offset up to `after`); delivery is live again.
   */
  releaseTopic(topic: string, replay: readonly Published[], after: Position | null, limits: DeliveryLimits): void {
    const state = this.#subscriber;
    const held = state?.recovering?.get(topic);
    if (state === null || held === undefined) return;
    state.recovering!.delete(topic);
    this.recoveringDone(state);
    for (const message of replay) this.deliverPublished(message, limits);
    for (const message of held) {
      if (after !== null && message.epoch === after.epoch && message.offset !== null && message.offset <= after.offset)
        continue;
      this.deliverPublished(message, limits);
    }
  }

  /** @internal */
  private recoveringDone(state: SubscriberState): void {
    if (state.recovering!.size === 0) {
      state.recovering = null;
      state.recoveringBytes = 0;
    }
  }

  /** @internal Sends one control envelope (`{"recovered"}`, `{"gap"}`) already framed, or frames it for a client. */
  sendControl(frame: Buffer | null, json: string): void {
    const transport = this._transport;
    if (transport === null || this._state !== 'open' || transport.sendingFragmented !== 0) return;
    if (transport.isClient) transport.send(Opcode.TEXT, json, true, false);
    else transport.sendFrame(frame ?? frameServerText(json));
  }
}
