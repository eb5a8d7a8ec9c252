/**
 * Streams-mode publishing that survives Redis restarts: every publish waits here until Redis confirmed it, and is
 * sent again, in order, after a failure (a dropped connection loses the replies of the commands under way, which
 * may or may not have run). The publish script makes the retries harmless: each node numbers its publishes, and
 * a number Redis already applied is answered as a duplicate, not appended twice; one that arrives before its
 * predecessor is refused and sent again after it. Publishes are pipelined: no waiting for one reply before the
 * next is sent.
 * @packageDocumentation
 */
import type { Position } from '../api/backplane.js';
import { BackplaneError } from '../errors.js';
import type { RedisReply } from './client.js';

/** A publish waiting for Redis. */
export interface OutgoingPublish {
  topic: string;
  data: Buffer;
  flags: number;
  origin: string | null;
  /** This node's publish number, and its previous number on the same topic (0: none known). */
  seq: number;
  prev: number;
}

interface Entry extends OutgoingPublish {
  resolve(position: Position | null): void;
  reject(error: Error): void;
  done: boolean;
}

// Retries wait from 50 ms up to 2 s; after this many failures in a row everything waiting is given up.
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2000;
const MAX_FAILURES = 40;
// Topics whose last publish number is kept (a forgotten one sends prev 0: accepted in any order).
const MAX_TRACKED_TOPICS = 100_000;

/** @internal The ordered, retried queue of streams-mode publishes. */
export class StreamOutbox {
  readonly #send: (entry: OutgoingPublish) => Promise<RedisReply>;
  readonly #max: number;
  #queue: Entry[] = [];
  #seq = 0;
  readonly #lastOnTopic = new Map<string, number>();
  #generation = 0;
  #timer: NodeJS.Timeout | null = null;
  #delay = FIRST_RETRY_MS;
  #failures = 0;
  #closed = false;

  constructor(send: (entry: OutgoingPublish) => Promise<RedisReply>, max: number) {
    this.#send = send;
    this.#max = max;
  }

  /** Publishes waiting for Redis. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues a publish; resolves with its position once Redis confirmed it. */
  push(topic: string, data: Buffer, flags: number, origin: string | null): Promise<Position | null> {
    if (this.#closed) return Promise.reject(new BackplaneError('the backplane is closed'));
    if (this.#queue.length >= this.#max)
      return Promise.reject(
        new BackplaneError(`${this.#queue.length} publishes are waiting for redis (maxPendingPublishes)`),
      );
    const seq = ++this.#seq;
    const prev = this.#lastOnTopic.get(topic) ?? 0;
    this.#lastOnTopic.delete(topic);
    this.#lastOnTopic.set(topic, seq);
    if (this.#lastOnTopic.size > MAX_TRACKED_TOPICS) this.#lastOnTopic.delete(this.#lastOnTopic.keys().next().value!);
    return new Promise((resolve, reject) => {
      const entry: Entry = { topic, data, flags, origin, seq, prev, resolve, reject, done: false };
      this.#queue.push(entry);
      // While a retry is due, new publishes wait for it, so they cannot overtake the ones being retried.
      if (this.#timer === null) this.#transmit(entry);
    });
  }

  #transmit(entry: Entry): void {
    const generation = this.#generation;
    this.#send(entry).then(
      (reply) => this.#confirmed(entry, reply),
      (error: unknown) => this.#failed(entry, generation, error),
    );
  }

  #confirmed(entry: Entry, reply: RedisReply): void {
    if (entry.done) return;
    entry.done = true;
    this.#failures = 0;
    this.#delay = FIRST_RETRY_MS;
    const fields = Array.isArray(reply) ? reply : [];
    const epoch = fields[0] === undefined || fields[0] === null ? null : String(fields[0]);
    const offset = Number(fields[1] ?? 0);
    entry.resolve(epoch !== null && offset > 0 ? { epoch, offset } : null);
    const queue = this.#queue;
    let done = 0;
    while (done < queue.length && queue[done]!.done) done++;
    if (done > 0) queue.splice(0, done);
  }

  #failed(entry: Entry, generation: number, error: unknown): void {
    // A failure of an earlier round, or of an entry confirmed meanwhile, changes nothing.
    if (entry.done || this.#closed || generation !== this.#generation) return;
    this.#generation++;
    if (++this.#failures >= MAX_FAILURES) {
      this.#giveUp(
        new BackplaneError(`redis refused the publishes ${MAX_FAILURES} times in a row: ${String(error)}`, {
          cause: error,
        }),
      );
      return;
    }
    this.#timer = setTimeout(() => this.#retry(), this.#delay);
    this.#timer.unref();
    this.#delay = Math.min(MAX_RETRY_MS, this.#delay * 2);
  }

  // Everything not confirmed goes again, in the original order.
  #retry(): void {
    this.#timer = null;
    for (const entry of this.#queue) if (!entry.done) this.#transmit(entry);
  }

  #giveUp(error: Error): void {
    const queue = this.#queue;
    this.#queue = [];
    this.#lastOnTopic.clear(); // the numbers given up on never arrive: later publishes must not wait for them
    this.#failures = 0;
    this.#delay = FIRST_RETRY_MS;
    for (const entry of queue) {
      if (entry.done) continue;
      entry.done = true;
      entry.reject(error);
    }
  }

  /** Stops: what still waits is rejected. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#giveUp(new BackplaneError('the backplane closed before redis confirmed the publish'));
  }
}
