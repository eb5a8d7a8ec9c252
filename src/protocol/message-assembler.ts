/**
 * The one place where data frames become messages (RFC 6455 §5.4): the continuation rules, the message size rule
 * (through {@link MessageBuffer}), UTF-8 checked as bytes arrive (§8.1, fail fast), and the three ways a message
 * leaves: whole, frame by frame (noPoll's delivery), or streamed part by part. Compressed messages (RFC 7692) are
 * gathered compressed and handed on whole (or per frame) for the transport to inflate.
 *
 * The parser asks {@link MessageAssembler.header} about each data frame before its payload arrives, so limits are
 * enforced from the header, and tells whether the frame is assembled or streamed.
 * @packageDocumentation
 */
import { MessageTooBigError, PolicyViolationError, ProtocolError, InvalidPayloadError } from '../errors.js';
import { Opcode } from './constants.js';
import { RSV1 } from './frame-header.js';
import { MessageBuffer, type InboundBudget } from './message-buffer.js';
import { isValidUtf8 } from './utf8.js';

/** Where assembled messages go (the session's handler: see `SessionHandler` for each call). */
export interface MessageOutput {
  sessionMessage(opcode: number, payload: Buffer, fin: boolean): void;
  sessionCompressed?(opcode: number, payload: Buffer, fin: boolean): void;
  sessionStream?(opcode: number, data: Buffer, end: boolean): void;
}

/** What the assembler needs from its session. */
export interface AssemblerOwner {
  /** The peer broke a message rule: fail the connection with this error. */
  failMessage(error: ProtocolError): void;
  /** A compressed message was handed over: stop parsing until the transport has inflated it. */
  pauseInput(): void;
}

/** How the parser treats a data frame's payload (answer of {@link MessageAssembler.header}). */
export const FrameMode = {
  /** Refused: the connection failed. */
  REFUSED: 0,
  /** Gathered into one payload, under the frame limit. */
  ASSEMBLED: 1,
  /** Handed over in parts as it arrives (streaming), never gathered. */
  STREAMED: 2,
} as const;

/** Settings of an assembler. */
export interface AssemblerOptions {
  /** Largest message (sum of frame payloads, or inflated size). */
  maxMessageBytes: number;
  /** Deliver each frame on its own (noPoll's behaviour): no message limit, the frame limit applies. */
  deliverFrames: boolean;
  /** The RSV bit that marks a compressed message (RSV1 with permessage-deflate), or 0. */
  compressedRsv: number;
  /** Shared account of inbound bytes held in partial messages. */
  budget: InboundBudget | null;
}

// Streamed parts smaller than this are copied together and handed on once per received chunk, so a flood of tiny
// frames never becomes one object per frame in the consumer's queue.
const COALESCE_BELOW = 512;
const COALESCE_SIZE = 4096;
const EMPTY = Buffer.alloc(0);

/** Turns data frames into messages. See the module comment. */
export class MessageAssembler {
  readonly #out: MessageOutput;
  readonly #owner: AssemblerOwner;
  readonly #deliverFrames: boolean;
  readonly #compressedRsv: number;
  readonly #budget: InboundBudget | null;
  // The open message: its opcode (| RSV1 when compressed); whether more frames follow; whether it is streamed.
  #opcode = 0;
  #open = false;
  #streamed = false;
  // The frame whose payload is arriving: its opcode on the wire; its parts were checked as UTF-8; budget charged.
  #frameOpcode = 0;
  #frameChecked = false;
  #frameCharged = 0;
  readonly #buffer: MessageBuffer; // the gathered bytes, the size rule and the UTF-8 state
  // Streaming mode and its limit (-1: none); bytes of the message so far when they are not gathered (streamed, or
  // delivered frame by frame).
  #streaming = false;
  #maxStreamBytes = -1;
  #passedBytes = 0;
  // Small streamed parts waiting to be handed on together.
  #pending: Buffer | null = null;
  #pendingLength = 0;

  constructor(out: MessageOutput, owner: AssemblerOwner, options: AssemblerOptions) {
    this.#out = out;
    this.#owner = owner;
    this.#deliverFrames = options.deliverFrames;
    this.#compressedRsv = options.compressedRsv;
    this.#budget = options.budget;
    this.#buffer = new MessageBuffer(options.maxMessageBytes, options.budget);
  }

  /** Bytes of the message being gathered (the frame arriving in parts is counted by the parser). */
  get bufferedBytes(): number {
    return this.#buffer.size + this.#pendingLength;
  }

  /** True between the first and the last frame of a fragmented message. */
  get messageOpen(): boolean {
    return this.#open;
  }

  /** Changes the message limit, from the next check. */
  setMaxMessageBytes(limit: number): void {
    this.#buffer.setLimit(limit);
  }

  /** Streaming from the next message on (a message under way keeps its mode). `maxStreamBytes`: -1 for none. */
  setStreaming(on: boolean, maxStreamBytes: number): void {
    this.#streaming = on;
    this.#maxStreamBytes = maxStreamBytes;
  }

  /**
   * A data frame's header (opcode TEXT, BINARY or CONTINUATION; the RSV bits of a first frame are already checked
   * against the negotiated ones). Applies the continuation and size rules and picks the frame's {@link FrameMode}.
   */
  header(fin: boolean, rsv: number, opcode: number, length: number): number {
    let error: ProtocolError | null = null;
    if (opcode === Opcode.CONTINUATION) {
      if (!this.#open)
        error = new ProtocolError('NOPOLL_ERR_UNEXPECTED_CONTINUATION', 'continuation frame with no message open');
      // Extensions mark only the first frame of a message (RFC 7692 §6.1).
      else if (rsv !== 0)
        error = new ProtocolError('NOPOLL_ERR_UNEXPECTED_RSV', 'RSV bits set on a continuation frame');
    } else if (this.#open) {
      error = new ProtocolError(
        'NOPOLL_ERR_EXPECTED_CONTINUATION',
        'new data frame while a fragmented message is open',
      );
    } else {
      const compressed = (rsv & this.#compressedRsv) !== 0;
      this.#opcode = compressed ? opcode | RSV1 : opcode;
      this.#streamed = this.#streaming && !compressed;
      this.#passedBytes = 0;
      // Text checked as it comes whenever it is not one frame checked at its end (compressed text: once inflated).
      this.#buffer.start(opcode === Opcode.TEXT && !compressed && (!fin || this.#deliverFrames || this.#streamed));
    }
    if (error === null) {
      if (this.#streamed) {
        this.#passedBytes += length;
        if (this.#maxStreamBytes >= 0 && this.#passedBytes > this.#maxStreamBytes) {
          error = new MessageTooBigError(
            `streamed message of over ${this.#passedBytes - length} bytes exceeds the limit`,
            this.#maxStreamBytes,
          );
        }
      } else if (this.#deliverFrames) {
        error = this.#buffer.room(length, this.#passedBytes);
        this.#passedBytes += length;
      } else {
        error = this.#buffer.room(length);
      }
    }
    if (error !== null) {
      this.#fail(error);
      return FrameMode.REFUSED;
    }
    this.#open = !fin;
    this.#frameOpcode = opcode;
    this.#frameChecked = false;
    return this.#streamed ? FrameMode.STREAMED : FrameMode.ASSEMBLED;
  }

  /**
   * Part of the current frame's payload, arriving before the rest (unmasked, a view): streamed on, or checked as
   * UTF-8 and charged to the budget while the parser gathers the frame.
   */
  part(part: Buffer): void {
    const buffer = this.#buffer;
    if (this.#streamed) {
      if (!buffer.checkText(part)) return this.#fail(notUtf8());
      this.#frameChecked = true;
      return this.#stream(part);
    }
    if (this.#budget !== null) {
      if (!this.#budget.take(part.length)) return this.#fail(budgetSpent());
      this.#frameCharged += part.length;
    }
    if (this.#opcode !== Opcode.TEXT) return;
    // A one-frame text message arriving in parts is checked part by part too, so it fails before its end (§8.1).
    if (!this.#frameChecked && !this.#open && this.#frameOpcode === Opcode.TEXT) buffer.start(true);
    this.#frameChecked = true;
    if (!buffer.checkText(part)) this.#fail(notUtf8());
  }

  /** A complete data frame (its payload is empty when it was streamed in parts). */
  frame(fin: boolean, payload: Buffer): void {
    const checked = this.#frameChecked;
    this.#frameChecked = false;
    if (this.#frameCharged > 0) {
      this.#budget!.give(this.#frameCharged);
      this.#frameCharged = 0;
    }
    const opcode = this.#opcode;
    if (opcode >= RSV1) return this.#compressedFrame(fin, payload);
    if (this.#streamed) return this.#streamFrame(fin, payload, checked);
    const buffer = this.#buffer;
    if (this.#deliverFrames) {
      if (opcode === Opcode.TEXT && ((!checked && !buffer.checkText(payload)) || (fin && !buffer.textComplete)))
        return this.#fail(notUtf8());
      this.#out.sessionMessage(this.#frameOpcode, payload, fin);
      return;
    }
    if (fin && buffer.size === 0) {
      // The whole message is this frame (the common case): delivered without a copy.
      if (opcode === Opcode.TEXT && (checked ? !buffer.textComplete : !isValidUtf8(payload)))
        return this.#fail(notUtf8());
      this.#out.sessionMessage(opcode, payload, true);
      return;
    }
    const error = buffer.append(payload, checked);
    if (error !== null) return this.#fail(error);
    if (!fin) return;
    const message = buffer.finish();
    if (message instanceof ProtocolError) return this.#fail(message);
    this.#out.sessionMessage(opcode, message, true);
  }

  /** The end of one received chunk: hands on the small streamed parts gathered meanwhile. */
  flush(): void {
    if (this.#pendingLength > 0) this.#flushPending();
  }

  /** Drops the message under way (the connection failed or ended) and gives its budget back. */
  reset(): void {
    this.#buffer.reset();
    if (this.#frameCharged > 0) {
      this.#budget!.give(this.#frameCharged);
      this.#frameCharged = 0;
    }
    this.#pending = null;
    this.#pendingLength = 0;
    this.#open = false;
  }

  // Compressed: gathered whole (or per frame in frame mode) and handed to the transport, input paused meanwhile.
  #compressedFrame(fin: boolean, payload: Buffer): void {
    let data = payload;
    if (!this.#deliverFrames && (!fin || this.#buffer.size > 0)) {
      const error = this.#buffer.append(payload, true);
      if (error !== null) return this.#fail(error);
      if (!fin) return;
      const message = this.#buffer.finish();
      if (message instanceof ProtocolError) return this.#fail(message);
      data = message;
    }
    this.#owner.pauseInput();
    this.#out.sessionCompressed!(this.#deliverFrames ? this.#frameOpcode : this.#opcode & 0x0f, data, fin);
  }

  // Streaming: a frame ends. Its payload is here when it arrived whole, else its parts went out already.
  #streamFrame(fin: boolean, payload: Buffer, checked: boolean): void {
    if (payload.length > 0) {
      if (!checked && !this.#buffer.checkText(payload)) return this.#fail(notUtf8());
      this.#stream(payload);
    }
    if (!fin) return;
    if (!this.#buffer.textComplete) return this.#fail(notUtf8());
    this.flush();
    this.#out.sessionStream!(this.#opcode, EMPTY, true);
  }

  #stream(data: Buffer): void {
    if (data.length >= COALESCE_BELOW) {
      this.flush();
      this.#out.sessionStream!(this.#opcode, data, false);
      return;
    }
    if (this.#pendingLength + data.length > COALESCE_SIZE) this.#flushPending();
    const pending = (this.#pending ??= Buffer.allocUnsafe(COALESCE_SIZE));
    pending.set(data, this.#pendingLength);
    this.#pendingLength += data.length;
  }

  // Hands on the gathered small parts as one exact-size copy (the scratch buffer is kept for the next ones).
  #flushPending(): void {
    const data = Buffer.from(this.#pending!.subarray(0, this.#pendingLength));
    this.#pendingLength = 0;
    this.#out.sessionStream!(this.#opcode, data, false);
  }

  #fail(error: ProtocolError): void {
    // What was streamed so far reaches the consumer first; the failure then ends its message.
    this.flush();
    this.reset();
    this.#owner.failMessage(error);
  }
}

function notUtf8(): ProtocolError {
  return new InvalidPayloadError('text message is not valid UTF-8');
}

function budgetSpent(): ProtocolError {
  return new PolicyViolationError('the inbound memory budget is spent: message refused');
}
