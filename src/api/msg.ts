/**
 * A received message or frame: noPoll's `noPollMsg` as an immutable object over a Buffer.
 * @packageDocumentation
 */
import { Opcode } from '../protocol/constants.js';

/** A received data message (or, with `deliverFragments`, one frame of it). */
export class Msg {
  /** TEXT, BINARY, or CONTINUATION for the later frames of a fragmented message (frame delivery only). */
  readonly opcode: number;
  /** The payload bytes. */
  readonly payload: Buffer;
  /** True for the last (or only) piece of a message. */
  readonly isFinal: boolean;
  /** True when this is one piece of a fragmented message rather than a whole message. */
  readonly isFragment: boolean;
  #text: string | undefined = undefined;
  #refs = 1;

  /** Builds a message; the library creates them, tests and joins may too. */
  constructor(opcode: number, payload: Buffer, isFinal = true, isFragment = false) {
    this.opcode = opcode;
    this.payload = payload;
    this.isFinal = isFinal;
    this.isFragment = isFragment;
  }

  /** Payload size in bytes (`nopoll_msg_get_payload_size`). */
  get size(): number {
    return this.payload.length;
  }

  /** The payload decoded as UTF-8 (decoded once, then cached). Text messages were already validated. */
  get text(): string {
    return (this.#text ??= this.payload.toString('utf8'));
  }

  /** True for a text message (or the first frame of one). */
  get isText(): boolean {
    return this.opcode === Opcode.TEXT;
  }

  /** True for a binary message (or the first frame of one). */
  get isBinary(): boolean {
    return this.opcode === Opcode.BINARY;
  }

  /** Reference count, kept for noPoll parity (`nopoll_msg_ref_count`); memory is managed by the garbage collector. */
  get refCount(): number {
    return this.#refs;
  }

  /** Adds a reference (`nopoll_msg_ref`); only the counter changes. */
  ref(): this {
    this.#refs++;
    return this;
  }

  /** Drops a reference (`nopoll_msg_unref`); only the counter changes. */
  unref(): void {
    if (this.#refs > 0) this.#refs--;
  }

  /**
   * Joins two pieces into a new message (`nopoll_msg_join`): `a`'s opcode (or `b`'s when `a` is a continuation),
   * `b`'s finality, and the payloads one after the other. With one argument missing the other is returned with an
   * extra reference; with both missing, null.
   */
  static join(a: Msg | null | undefined, b: Msg | null | undefined): Msg | null {
    if (!a) return b ? b.ref() : null;
    if (!b) return a.ref();
    const opcode = a.opcode === Opcode.CONTINUATION ? b.opcode : a.opcode;
    // Complete only when it starts a message and ends one.
    return new Msg(
      opcode,
      Buffer.concat([a.payload, b.payload]),
      b.isFinal,
      a.opcode === Opcode.CONTINUATION || !b.isFinal,
    );
  }
}
