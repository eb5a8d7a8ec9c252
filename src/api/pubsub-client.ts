/**
 * A subscriber that comes back (docs/pubsub.md, "The reconnecting client"): a {@link ReconnectingConn} (backoff with
 * jitter and a cap) to a topic URL of a `nopoll.pubsub.v1` server such as `nopoll relay` (`ws://H:P/TOPIC`). Each
 * reconnection subscribes again, and once it has seen a message with a position (streams mode), asks to resume
 * from it (`?since=EPOCH:OFFSET`): what it missed arrives first, in order, and `onRecovered` says whether
 * everything could be. Duplicates (a message at or before the position) are dropped.
 * @packageDocumentation
 */
import { HandshakeError } from '../errors.js';
import type { Position } from './backplane.js';
import type { ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { Msg } from './msg.js';
import { formatPosition, parseEnvelope, parsePosition, PUBSUB_PROTOCOL } from './pubsub-envelope.js';
import { ReconnectingConn, type ReconnectPolicy } from './reconnect.js';

/** A message delivered to a {@link PubSubClient}. */
export interface TopicMessage {
  topic: string;
  /** Text as a string, binary as a Buffer. */
  data: string | Buffer;
  binary: boolean;
  /** Its position (streams mode), or null. */
  offset: number | null;
  epoch: string | null;
}

/** Settings of a {@link PubSubClient}. Every field is optional. */
export interface PubSubClientOptions {
  /** Connection options (subprotocols are set: `nopoll.pubsub.v1`). */
  opts?: ConnOptsLike;
  /** Reconnection policy (delays, jitter, attempts; see `ReconnectingConn`). */
  policy?: ReconnectPolicy;
  /** Resume from here on the first connection too (a position kept from an earlier run). */
  since?: Position | string | null;
  /** Join the topic's presence as this member (`?member=`). */
  member?: string;
}

/** A reconnecting, resuming subscriber of one topic. See the module comment. */
export class PubSubClient {
  /** The reconnecting connection underneath (its handlers report attempts, disconnections, giving up). */
  readonly connection: ReconnectingConn;
  /** The topic URL (without `since`). */
  readonly url: URL;
  /** Each message, in order, once. */
  onMessage: ((message: TopicMessage) => void) | null = null;
  /** After each resume: whether everything since the position could be sent (false: reload your state). */
  onRecovered: ((recovered: boolean) => void) | null = null;
  /** The server reported that messages may have been lost (`missed`: how many, when known). */
  onGap: ((missed: number | null) => void) | null = null;
  #position: Position | null;

  /**
   * Connects to `url` (`ws://H:P/TOPIC` or `wss://`) and keeps it connected.
   * @throws TypeError for a URL that is not ws: or wss:, or a `since` that is not a position.
   */
  constructor(ctx: Context, url: string | URL, options: PubSubClientOptions = {}) {
    this.url = new URL(url);
    if (this.url.protocol !== 'ws:' && this.url.protocol !== 'wss:')
      throw new TypeError(`a topic URL is ws: or wss:, got ${this.url.protocol}`);
    this.url.searchParams.delete('since');
    if (options.member !== undefined) this.url.searchParams.set('member', options.member);
    const since = typeof options.since === 'string' ? parsePosition(options.since) : (options.since ?? null);
    if (typeof options.since === 'string' && since === null)
      throw new TypeError(`not a position (EPOCH:OFFSET): ${options.since}`);
    this.#position = since;
    this.connection = new ReconnectingConn(
      ctx,
      () => this.#target(),
      { ...options.opts, protocols: [PUBSUB_PROTOCOL] },
      options.policy ?? {},
    );
    this.connection.onMessage = (_conn, msg) => this.#frame(msg);
    this.connection.onOpen = (conn) => {
      // Without the subprotocol the server sends raw payloads with no positions: this client cannot work with it.
      if (conn.acceptedProtocol !== PUBSUB_PROTOCOL) {
        ctx.handlerError(new HandshakeError(`${this.url.href} did not accept ${PUBSUB_PROTOCOL}`), conn);
        void this.connection.close(1002, `${PUBSUB_PROTOCOL} required`);
      }
    };
  }

  /** The position of the last message received (what the next reconnection resumes from), or null. */
  get position(): Position | null {
    return this.#position === null ? null : { ...this.#position };
  }

  /** Publishes to the topic through the server (`nopoll relay` delivers it to the other subscribers). As `ReconnectingConn.sendText`. */
  send(data: string | Uint8Array, options: { binary?: boolean } = {}): number {
    if (options.binary === true || (typeof data !== 'string' && options.binary !== false)) {
      return this.connection.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
    }
    return this.connection.sendText(data);
  }

  /** Stops for good. */
  close(code = 1000, reason = ''): Promise<void> {
    return this.connection.close(code, reason);
  }

  #target(): string {
    if (this.#position === null) return this.url.href;
    const url = new URL(this.url);
    url.searchParams.set('since', formatPosition(this.#position));
    return url.href;
  }

  #frame(msg: Msg): void {
    if (!msg.isText) return;
    const frame = parseEnvelope(msg.text);
    if (frame === null) return;
    if (frame.kind === 'recovered') return this.onRecovered?.(frame.recovered);
    if (frame.kind === 'gap') return this.onGap?.(frame.missed);
    const { offset, epoch } = frame;
    if (offset !== null && epoch !== null) {
      const at = this.#position;
      if (at !== null && at.epoch === epoch && offset <= at.offset) return; // had it already
      this.#position = { epoch, offset };
    }
    this.onMessage?.({ topic: frame.topic, data: frame.data, binary: frame.binary, offset, epoch });
  }
}
