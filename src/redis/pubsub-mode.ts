/**
 * Redis pub/sub mode: lowest latency, at most once. A publish is one PUBLISH on the topic's channel; each node
 * subscribed to it delivers it. Nothing is stored, so what is published while a node's link is down never reaches
 * it: that is never silent. Each gap is reported to the node (an event and a counter):
 * - `'link'` once per topic when the subscriber connection comes back (or at the topic's first message after it);
 * - `'sequence'` with the exact count when a publisher's messages arrive with a hole (each node numbers its
 *   publishes per topic, so a publish lost on the way, e.g. when the publisher's connection dropped, is seen).
 * node-redis subscribes again by itself after a reconnection.
 * @packageDocumentation
 */
import type { BackplaneMessage, Position } from '../api/backplane.js';
import { BackplaneError } from '../errors.js';
import { RedisBackplaneBase, type RedisCommonOptions } from './base.js';
import { command } from './client.js';
import { flagsOf, parseWire, pubsubHead } from './wire.js';

// Publish counters kept per topic (the oldest forgotten past this: a forgotten topic counts again from 1, which
// receivers take as a restart, not a gap), and publishers tracked per topic by receivers.
const MAX_COUNTED_TOPICS = 100_000;
const MAX_TRACKED_PUBLISHERS = 1_000;

/** @internal The pub/sub-mode backplane; made by `redisBackplane({ mode: 'pubsub' })`. */
export class PubSubModeBackplane extends RedisBackplaneBase {
  readonly mode = 'pubsub' as const;
  #pending = 0;
  readonly #published = new Map<string, number>(); // topic → this node's publish count
  readonly #seen = new Map<string, Map<string, number>>(); // topic → publisher node → last count received
  #linkGaps: Set<string> | null = null; // topics owed a 'link' gap report

  constructor(options: RedisCommonOptions) {
    super(options);
  }

  /** @internal Backplane. */
  publish(message: Omit<BackplaneMessage, 'offset' | 'epoch'>): Promise<Position | null> {
    if (this.closed) return Promise.reject(new BackplaneError('the backplane is closed'));
    if (this.#pending >= this.maxPending) {
      return Promise.reject(
        new BackplaneError(`${this.#pending} publishes are waiting for redis (maxPendingPublishes)`),
      );
    }
    const topic = message.topic;
    const count = (this.#published.get(topic) ?? 0) + 1;
    this.#published.delete(topic); // re-inserted last: the map's order is least recently published first
    this.#published.set(topic, count);
    if (this.#published.size > MAX_COUNTED_TOPICS) this.#published.delete(this.#published.keys().next().value!);
    const head = pubsubHead(this.nodeId, count, flagsOf(message.binary, message.compress), message.origin);
    const payload = Buffer.concat([head, message.data], head.length + message.data.length);
    this.#pending++;
    return command(this.client, ['PUBLISH', this.keys(topic).channel, payload]).then(
      () => {
        this.#pending--;
        return null;
      },
      (error: unknown) => {
        this.#pending--;
        throw new BackplaneError(`PUBLISH to ${topic} failed (the message is lost): ${String(error)}`, {
          cause: error,
        });
      },
    );
  }

  protected received(topic: string, raw: Buffer): void {
    const message = parseWire(raw);
    if (message === null || message.kind !== 'P') return;
    const host = this.host;
    if (host === null) return;
    if (this.#linkGaps?.delete(topic)) host.gap({ topic, reason: 'link', missed: null });
    let publishers = this.#seen.get(topic);
    if (publishers === undefined) this.#seen.set(topic, (publishers = new Map()));
    const last = publishers.get(message.source);
    // A count at or below the last one: that publisher started counting again (a restart, a forgotten topic).
    if (last !== undefined && message.sequence > last + 1)
      host.gap({ topic, reason: 'sequence', missed: message.sequence - last - 1 });
    publishers.set(message.source, message.sequence);
    if (last === undefined && publishers.size > MAX_TRACKED_PUBLISHERS)
      publishers.delete(publishers.keys().next().value!);
    host.deliver({
      topic,
      data: message.data,
      binary: message.binary,
      compress: message.compress,
      offset: null,
      epoch: null,
      origin: message.origin,
    });
  }

  protected subscribing(): void {
    /* nothing to prepare */
  }

  protected subscribed(): Promise<void> {
    return Promise.resolve();
  }

  protected unsubscribed(topic: string): void {
    this.#seen.delete(topic);
    this.#linkGaps?.delete(topic);
  }

  protected linkDown(): void {
    // Every topic held now may miss messages until the link is back.
    this.#linkGaps = new Set(this.topics);
  }

  protected linkUp(): void {
    const owed = this.#linkGaps;
    this.#linkGaps = null;
    if (owed === null || this.host === null) return;
    for (const topic of owed) this.host.gap({ topic, reason: 'link', missed: null });
  }

  protected closing(): void {
    this.#seen.clear();
    this.#linkGaps = null;
  }
}
