/**
 * Redis streams mode: every message gets an offset in a capped Redis stream per topic (history bounded by length
 * and age) and is announced on the topic's channel in the same script call (scripts.ts). A node delivers the
 * channel's messages in offset order and fills any hole from the stream: after its link to Redis dropped, after
 * a Redis restart, or when a message arrives ahead of the next expected offset. Only what the history no longer
 * holds is reported as a gap (`'history'`), and a lost history (a new epoch) as `'epoch'`. Clients resume from
 * their last position through `history()`. Publishes are retried until Redis confirmed them (outbox.ts).
 * @packageDocumentation
 */
import type { BackplaneMessage, HistoryResult, Position } from '../api/backplane.js';
import { BackplaneError } from '../errors.js';
import { RedisBackplaneBase, type RedisCommonOptions } from './base.js';
import { command, integer, text, type RedisReply } from './client.js';
import { StreamOutbox } from './outbox.js';
import { Script, STREAM_PUBLISH } from './scripts.js';
import { flagsOf, parseWire, readFlags, type WireMessage } from './wire.js';

/** How much history each topic keeps (streams mode). */
export interface HistoryOptions {
  /**
   * Messages a resume may replay per topic (default 1000). Redis trims the stream in whole blocks (MAXLEN ~), so it
   * holds up to about 100 more; older ones are never replayed.
   */
  maxLength?: number;
  /** Age past which a message is no longer replayed, and after which a quiet topic's stream expires (ms; 0: no age bound). Default 300000. */
  maxAgeMs?: number;
  /** How long a topic's epoch and offset counter outlive its last publish (ms, at least maxAgeMs). Default 86400000. */
  metaTtlMs?: number;
}

const PUBLISH = new Script(STREAM_PUBLISH);
// Entries read per XRANGE while catching up; live messages held during a catch-up, at most.
const PAGE = 500;
const MAX_HELD = 100_000;
const RESYNC_MS = 250;

/** A topic this node receives: where its delivery stands. */
class StreamTopic {
  epoch: string | null = null;
  last = 0;
  /** Live messages held while the history is read (null: delivering live). */
  held: WireMessage[] | null = [];
  syncing = false;
  again = false;
  active = true;
  timer: NodeJS.Timeout | null = null;
}

/** @internal The streams-mode backplane; made by `redisBackplane({ mode: 'streams' })`. */
export class StreamsModeBackplane extends RedisBackplaneBase {
  readonly mode = 'streams' as const;
  readonly maxLength: number;
  readonly maxAgeMs: number;
  readonly metaTtlMs: number;
  readonly #outbox: StreamOutbox;
  readonly #topics = new Map<string, StreamTopic>();
  #epochs = 0;

  constructor(options: RedisCommonOptions & { history?: HistoryOptions }) {
    super(options);
    const history = options.history ?? {};
    this.maxLength = history.maxLength ?? 1000;
    this.maxAgeMs = history.maxAgeMs ?? 300_000;
    this.metaTtlMs = Math.max(history.metaTtlMs ?? 86_400_000, this.maxAgeMs);
    for (const [name, value] of [
      ['maxLength', this.maxLength],
      ['maxAgeMs', this.maxAgeMs],
      ['metaTtlMs', this.metaTtlMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < (name === 'maxAgeMs' ? 0 : 1))
        throw new RangeError(`history.${name} must be a non-negative integer`);
    }
    this.#outbox = new StreamOutbox((entry) => {
      const keys = this.keys(entry.topic);
      const args = [
        keys.channel,
        entry.data,
        String(entry.flags),
        String(this.maxLength),
        String(this.maxAgeMs),
        String(this.metaTtlMs),
        this.nodeId,
        String(entry.seq),
        String(entry.prev),
        entry.origin ?? '',
        `${this.nodeId}${(++this.#epochs).toString(36)}`,
      ];
      return PUBLISH.run(this.client, [keys.stream, keys.meta], args);
    }, this.maxPending);
  }

  /** Publishes waiting for Redis to confirm them. */
  get pendingPublishes(): number {
    return this.#outbox.pending;
  }

  /** @internal Backplane: resolves with the message's position once it is in the topic's stream. */
  publish(message: Omit<BackplaneMessage, 'offset' | 'epoch'>): Promise<Position | null> {
    return this.#outbox.push(message.topic, message.data, flagsOf(message.binary, message.compress), message.origin);
  }

  /** @internal Backplane: the messages after `since`, when the history still holds all of them (at most `limit`). */
  override async history(topic: string, since: Position, limit: number): Promise<HistoryResult> {
    const keys = this.keys(topic);
    const [epochReply, topReply] = (await command(this.client, ['HMGET', keys.meta, 'e', 's'])) as RedisReply[];
    const epoch = text(epochReply);
    const top = integer(topReply);
    const none = (): HistoryResult => ({ recovered: false, messages: [], epoch, offset: top });
    // Redis trims whole blocks (MAXLEN ~): the length bound is applied here exactly.
    if (
      epoch === null ||
      epoch !== since.epoch ||
      since.offset > top ||
      top - since.offset > Math.min(limit, this.maxLength)
    )
      return none();
    if (since.offset === top) return { recovered: true, messages: [], epoch, offset: top };
    const entries = await this.#read(keys.stream, since.offset, top - since.offset);
    const oldest = this.maxAgeMs > 0 ? Date.now() - this.maxAgeMs : -Infinity;
    const messages: BackplaneMessage[] = [];
    let expected = since.offset + 1;
    for (const entry of entries) {
      if (entry.offset !== expected || entry.time < oldest) return none();
      messages.push(this.#message(topic, entry, epoch));
      expected++;
    }
    if (expected <= top) return none();
    return { recovered: true, messages, epoch, offset: top };
  }

  // ---- receiving ----

  protected subscribing(topic: string): void {
    this.#drop(topic);
    this.#topics.set(topic, new StreamTopic());
  }

  // The channel is subscribed: delivery starts at the stream's current end (nothing before it is replayed).
  protected async subscribed(topic: string): Promise<void> {
    const state = this.#topics.get(topic);
    if (state !== undefined) await this.#sync(topic, state, true);
  }

  protected unsubscribed(topic: string): void {
    this.#drop(topic);
  }

  #drop(topic: string): void {
    const state = this.#topics.get(topic);
    if (state === undefined) return;
    state.active = false;
    if (state.timer !== null) clearTimeout(state.timer);
    this.#topics.delete(topic);
  }

  protected received(topic: string, raw: Buffer): void {
    const state = this.#topics.get(topic);
    const message = parseWire(raw);
    if (state === undefined || message === null || message.kind !== 'S') return;
    if (state.held !== null) {
      if (state.held.length < MAX_HELD) state.held.push(message);
      return;
    }
    this.#live(topic, state, message);
  }

  #live(topic: string, state: StreamTopic, message: WireMessage): void {
    if (message.source !== state.epoch) {
      if (state.epoch !== null) this.host?.gap({ topic, reason: 'epoch', missed: null });
      state.epoch = message.source;
      state.last = 0;
    }
    if (message.sequence <= state.last) return; // already delivered
    if (message.sequence > state.last + 1) {
      // A hole: read it from the stream, holding what arrives meanwhile.
      state.held = [message];
      this.#startSync(topic, state);
      return;
    }
    state.last = message.sequence;
    this.host?.deliver({
      topic,
      data: message.data,
      binary: message.binary,
      compress: message.compress,
      offset: message.sequence,
      epoch: message.source,
      origin: message.origin,
    });
  }

  protected linkDown(): void {
    for (const state of this.#topics.values()) state.held ??= [];
  }

  protected linkUp(): void {
    for (const [topic, state] of this.#topics) this.#startSync(topic, state);
  }

  #startSync(topic: string, state: StreamTopic): void {
    if (state.syncing) {
      state.again = true;
      return;
    }
    void this.#sync(topic, state, false);
  }

  // Reads where the topic's stream stands and delivers what this node missed (or, at subscription, only takes the
  // position), then the live messages held meanwhile. On failure (Redis unreachable) it tries again later.
  async #sync(topic: string, state: StreamTopic, baseline: boolean): Promise<void> {
    state.syncing = true;
    state.held ??= [];
    let failed = false;
    try {
      const keys = this.keys(topic);
      const [epochReply, topReply] = (await command(this.client, ['HMGET', keys.meta, 'e', 's'])) as RedisReply[];
      const epoch = text(epochReply);
      const top = integer(topReply);
      if (!state.active) return;
      if (baseline) {
        state.epoch = epoch;
        state.last = top;
      } else {
        await this.#catchUp(topic, state, epoch, top);
      }
    } catch (error) {
      failed = true;
      this.report(new BackplaneError(`reading the history of ${topic}: ${String(error)}`, { cause: error }));
    } finally {
      state.syncing = false;
    }
    if (!state.active || this.closed) return;
    if (failed) {
      state.timer = setTimeout(() => {
        state.timer = null;
        if (state.active && !this.closed) this.#startSync(topic, state);
      }, RESYNC_MS);
      state.timer.unref();
      return;
    }
    const held = state.held;
    state.held = null;
    for (const message of held ?? []) {
      // A hole found among them starts another catch-up: the rest wait for it.
      const again = state.held as WireMessage[] | null;
      if (again !== null) again.push(message);
      else this.#live(topic, state, message);
    }
    if (state.again && state.held === null) {
      state.again = false;
      this.#startSync(topic, state);
    }
  }

  async #catchUp(topic: string, state: StreamTopic, epoch: string | null, top: number): Promise<void> {
    const host = this.host;
    if (epoch === null) {
      // No history at all: it expired, or Redis lost it.
      if (state.epoch !== null && state.last > 0) host?.gap({ topic, reason: 'epoch', missed: null });
      state.epoch = null;
      state.last = 0;
      return;
    }
    if (state.epoch !== null && state.epoch !== epoch) {
      host?.gap({ topic, reason: 'epoch', missed: null });
      state.last = 0;
    }
    state.epoch = epoch;
    const stream = this.keys(topic).stream;
    while (state.last < top && state.active) {
      const entries = await this.#read(stream, state.last, PAGE);
      if (!state.active) return;
      for (const entry of entries) {
        if (entry.offset <= state.last) continue;
        if (entry.offset > state.last + 1)
          host?.gap({ topic, reason: 'history', missed: entry.offset - state.last - 1 });
        state.last = entry.offset;
        host?.deliver(this.#message(topic, entry, epoch));
      }
      if (entries.length < PAGE) break;
    }
    if (state.last < top) {
      host?.gap({ topic, reason: 'history', missed: top - state.last });
      state.last = top;
    }
  }

  // XRANGE after `after`, binary-safe.
  async #read(stream: string, after: number, count: number): Promise<StreamEntry[]> {
    const reply = await command(this.client, ['XRANGE', stream, `(0-${after}`, '+', 'COUNT', String(count)], true);
    const out: StreamEntry[] = [];
    for (const item of Array.isArray(reply) ? reply : []) {
      if (!Array.isArray(item)) continue;
      const id = text(item[0]) ?? '';
      const offset = Number(id.slice(id.indexOf('-') + 1));
      const fields = Array.isArray(item[1]) ? item[1] : [];
      let data: Buffer = EMPTY;
      let flags = 0;
      let time = 0;
      let origin: string | null = null;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = text(fields[i]);
        const value = fields[i + 1];
        if (name === 'd') data = Buffer.isBuffer(value) ? value : Buffer.from(text(value) ?? '');
        else if (name === 'f') flags = integer(value);
        else if (name === 't') time = integer(value);
        else if (name === 'o') origin = text(value) || null;
      }
      if (Number.isSafeInteger(offset)) out.push({ offset, data, flags, time, origin });
    }
    return out;
  }

  #message(topic: string, entry: StreamEntry, epoch: string): BackplaneMessage {
    const { binary, compress } = readFlags(entry.flags);
    return { topic, data: entry.data, binary, compress, offset: entry.offset, epoch, origin: entry.origin };
  }

  protected closing(): void {
    for (const topic of [...this.#topics.keys()]) this.#drop(topic);
    this.#outbox.close();
  }
}

interface StreamEntry {
  offset: number;
  data: Buffer;
  flags: number;
  time: number;
  origin: string | null;
}

const EMPTY = Buffer.alloc(0);
