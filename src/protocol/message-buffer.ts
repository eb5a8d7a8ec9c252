/**
 * The bytes of one incoming message while it is put together, and the one size rule for messages (RFC 6455 §10.4:
 * an endpoint limits what it accepts; close code 1009 past it). Used for fragmented messages as their frames
 * arrive and for compressed messages as they inflate (RFC 7692), so both obey the same limit, the same UTF-8 rule
 * and the same memory accounting.
 *
 * Memory follows bytes: the payloads are copied into one buffer that grows by doubling, never kept as one object
 * per frame, so a message sent as millions of 1-byte fragments costs at most twice its size, not 100 bytes a byte.
 * @packageDocumentation
 */
import { MessageTooBigError, PolicyViolationError, type ProtocolError, InvalidPayloadError } from '../errors.js';
import { Utf8Validator } from './utf8.js';

/**
 * Bytes held in partly received messages, shared by many connections (the transport keeps one per process).
 * Counting only: the bytes live in each connection's buffers.
 */
export interface InboundBudget {
  /** Takes `bytes` from the budget; false (and nothing taken) when that would pass it. */
  take(bytes: number): boolean;
  /** Gives back bytes taken. */
  give(bytes: number): void;
}

// First allocation: small messages in small fragments stay small; later growth doubles.
const MIN_CAPACITY = 1024;

/** One incoming message being assembled. See the module comment. */
export class MessageBuffer {
  #buf: Buffer | null = null;
  #size = 0;
  #limit: number;
  #text = false;
  #utf8: Utf8Validator | null = null;
  readonly #budget: InboundBudget | null;
  #taken = 0; // bytes of #budget held for this message

  /** `limit`: largest message in bytes; `budget`: the shared account the held bytes are charged to, if any. */
  constructor(limit: number, budget: InboundBudget | null = null) {
    this.#limit = limit;
    this.#budget = budget;
  }

  /** Bytes gathered so far. */
  get size(): number {
    return this.#size;
  }

  /** The limit in force. */
  get limit(): number {
    return this.#limit;
  }

  /** Changes the limit (applies from the next check). */
  setLimit(limit: number): void {
    this.#limit = limit;
  }

  /**
   * Starts a message. `checkUtf8`: validate as text while the bytes arrive (fail fast, §8.1). The previous message,
   * if any, is dropped.
   */
  start(checkUtf8: boolean): void {
    this.reset();
    this.#text = checkUtf8;
    if (checkUtf8) (this.#utf8 ??= new Utf8Validator()).reset();
  }

  /**
   * The message rule: `more` bytes may join the message of `size` bytes (by default, what is gathered here).
   * Checked from a frame header before its payload is buffered, and on each piece of inflated output.
   */
  room(more: number, size: number = this.#size): ProtocolError | null {
    const total = size + more;
    if (total > this.#limit)
      return new MessageTooBigError(`message of over ${total - more} bytes exceeds the limit`, this.#limit);
    return null;
  }

  /**
   * Checks the next bytes of a text message as UTF-8 without keeping them (they were checked in parts before they
   * are appended with `checked`, or they are streamed on). False as soon as they cannot be valid.
   */
  checkText(data: Uint8Array): boolean {
    return !this.#text || this.#utf8!.push(data);
  }

  /** True unless a text message stops inside a UTF-8 sequence so far. */
  get textComplete(): boolean {
    return !this.#text || this.#utf8!.atBoundary;
  }

  /**
   * Adds bytes (copied). Returns the error that fails the connection: 1009 past the limit, 1008 when the shared
   * budget is spent, 1007 for text that cannot be UTF-8 (not checked again when `checked`). The message is dropped
   * then.
   */
  append(data: Uint8Array, checked = false): ProtocolError | null {
    const length = data.length;
    if (length === 0) return null;
    const error = this.room(length) ?? this.#take(length) ?? (!checked && !this.checkText(data) ? notUtf8() : null);
    if (error !== null) {
      this.reset();
      return error;
    }
    const end = this.#size + length;
    let buf = this.#buf;
    if (buf === null || end > buf.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.#limit, Math.max(end, MIN_CAPACITY, buf === null ? 0 : buf.length * 2)),
      );
      if (buf !== null && this.#size > 0) buf.copy(grown, 0, 0, this.#size);
      this.#buf = buf = grown;
    }
    buf.set(data, this.#size);
    this.#size = end;
    return null;
  }

  /**
   * Ends the message: its bytes (a view of the buffer, which the message now owns), or the error when text stops
   * inside a UTF-8 sequence. The buffer is released to the caller and the budget given back either way.
   */
  finish(): Buffer | ProtocolError {
    if (this.#text && !this.#utf8!.atBoundary) {
      this.reset();
      return notUtf8();
    }
    return this.take();
  }

  /**
   * Hands over the bytes gathered so far and starts gathering afresh, keeping the UTF-8 state: one frame of a
   * message delivered frame by frame.
   */
  take(): Buffer {
    const out = this.#buf === null ? EMPTY : this.#buf.subarray(0, this.#size);
    this.#buf = null;
    this.#size = 0;
    this.#release();
    return out;
  }

  /** Drops the message being gathered (failure, abort, or a new start) and gives its budget back. */
  reset(): void {
    this.#buf = null;
    this.#size = 0;
    this.#release();
  }

  #take(bytes: number): ProtocolError | null {
    const budget = this.#budget;
    if (budget === null) return null;
    if (!budget.take(bytes)) return new PolicyViolationError('the inbound memory budget is spent: message refused');
    this.#taken += bytes;
    return null;
  }

  #release(): void {
    if (this.#taken > 0) {
      this.#budget!.give(this.#taken);
      this.#taken = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

function notUtf8(): ProtocolError {
  return new InvalidPayloadError('text message is not valid UTF-8');
}
