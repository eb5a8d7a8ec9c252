/**
 * One published message on its way to the subscribers: the frames it needs are built on first use and then shared
 * by every subscriber that can take them (a server's frames are unmasked, RFC 6455 §5.1): the plain frame, one
 * compressed frame per set of compression settings for subscribers that agreed on `server_no_context_takeover`
 * (RFC 7692 §7.1.1.1), and the same again for subscribers of the `nopoll.pubsub.v1` subprotocol, which get a JSON
 * envelope instead of the raw payload.
 * @packageDocumentation
 */
import { Opcode } from '../protocol/constants.js';
import { frameServerMessage, frameServerText } from '../protocol/shared-frame.js';
import { compressAlone, compressionKey } from '../transport/shared-deflate.js';
import type { DeflateSetup } from '../transport/zlib-codec.js';
import { messageEnvelope } from './pubsub-envelope.js';

/** One form of the message (raw payload, or envelope) and its frames. */
export class PublishedForm {
  readonly opcode: number;
  #text: string | null;
  #bytes: Buffer | null;
  #frame: Buffer | null = null;
  #deflated: Map<number, Buffer> | null = null;

  constructor(opcode: number, data: string | Buffer) {
    this.opcode = opcode;
    this.#text = typeof data === 'string' ? data : null;
    this.#bytes = typeof data === 'string' ? null : data;
  }

  /** The payload bytes (a string is encoded once, on first use). */
  get bytes(): Buffer {
    return (this.#bytes ??= Buffer.from(this.#text!, 'utf8'));
  }

  /** The payload as given: the string of a text message published as one, else the bytes. */
  get data(): string | Buffer {
    return this.#text ?? this.#bytes!;
  }

  /** Whether the payload has at least `n` bytes (a string is measured only when its length leaves it open). */
  atLeast(n: number): boolean {
    if (this.#bytes !== null) return this.#bytes.length >= n;
    const units = this.#text!.length; // n UTF-16 units are between n and 3n UTF-8 bytes
    return units >= n || (units * 3 >= n && this.bytes.length >= n);
  }

  /** The uncompressed frame, built once. @throws TypeError for text bytes that are not UTF-8. */
  frame(): Buffer {
    if (this.#frame !== null) return this.#frame;
    return (this.#frame =
      this.#bytes === null && this.opcode === Opcode.TEXT
        ? frameServerText(this.#text!)
        : frameServerMessage(this.opcode, this.bytes));
  }

  /** The frame compressed without context for these settings, built once per distinct setting. */
  deflatedFrame(setup: Readonly<DeflateSetup>): Buffer {
    const key = compressionKey(setup);
    const cache = (this.#deflated ??= new Map());
    let frame = cache.get(key);
    if (frame === undefined) {
      frame = frameServerMessage(this.opcode, compressAlone(this.bytes, setup), true);
      cache.set(key, frame);
    }
    return frame;
  }
}

/** A message published to a topic. */
export class Published {
  readonly topic: string;
  readonly binary: boolean;
  /** The publisher's compression choice (undefined: each connection's threshold). */
  readonly compress: boolean | undefined;
  /** Offset and epoch in the topic's history. */
  readonly offset: number | null;
  readonly epoch: string | null;
  /** The raw form, which ordinary subscribers get. */
  readonly raw: PublishedForm;
  #envelope: PublishedForm | null = null;

  constructor(
    topic: string,
    data: string | Buffer,
    binary: boolean,
    compress: boolean | undefined,
    offset: number | null,
    epoch: string | null,
  ) {
    this.topic = topic;
    this.binary = binary;
    this.compress = compress;
    this.offset = offset;
    this.epoch = epoch;
    this.raw = new PublishedForm(binary ? Opcode.BINARY : Opcode.TEXT, data);
  }

  /** The `nopoll.pubsub.v1` form: a text frame holding the JSON envelope. */
  get envelope(): PublishedForm {
    return (this.#envelope ??= new PublishedForm(
      Opcode.TEXT,
      messageEnvelope(this.topic, this.raw.data, this.binary, this.offset, this.epoch),
    ));
  }
}
