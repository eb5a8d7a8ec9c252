/**
 * One WebSocket endpoint's protocol state after the opening handshake (RFC 6455 §5-§7): it turns received bytes
 * into messages and control events, and messages into framed bytes. No sockets, no timers: outputs go to a
 * {@link SessionHandler} that the transport implements, so the whole core can be driven by feeding it bytes.
 * @packageDocumentation
 */
import { InvalidPayloadError, ProtocolError } from '../errors.js';
import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { encodeCloseBody, parseCloseBody } from './close.js';
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { FrameParser, type FrameSink } from './frame-parser.js';
import { copyMasked, applyMask, randomMaskSource, type MaskSource } from './mask.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/** Which side of the connection this session is (decides masking, RFC 6455 §5.1). */
export type Role = 'client' | 'server';

/** Session states after the opening handshake (RFC 6455 §4.1 CONNECTING is handled before a session exists). */
export const SessionState = {
  /** Messages flow both ways. */
  OPEN: 1,
  /** We sent a close frame and wait for the peer's (§7.1.2). */
  CLOSING: 2,
  /** Close frames were exchanged, or the connection was failed. */
  CLOSED: 3,
} as const;
/** One of {@link SessionState}. */
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** Where a session's outputs go. The transport implements it; tests record the calls. */
export interface SessionHandler {
  /** Bytes for the wire, in order. `second` (may be null) follows `first` and should be written with it (cork/writev). */
  sessionWrite(first: Buffer, second: Buffer | null): void;
  /**
   * A data message arrived. In whole-message mode `fin` is always true and `opcode` is TEXT or BINARY; in frame mode
   * each frame is delivered as it comes (CONTINUATION for later frames, `fin` false until the last).
   */
  sessionMessage(opcode: number, payload: Buffer, fin: boolean): void;
  /** A ping arrived; the pong was already queued (§5.5.2). */
  sessionPing(payload: Buffer): void;
  /** A pong arrived (§5.5.3). */
  sessionPong(payload: Buffer): void;
  /** The peer's close frame arrived; if we had not sent one, the echo was queued (§5.5.1). The session is CLOSED. */
  sessionClose(code: number, reason: string): void;
  /** The peer broke the protocol: a close frame with `error.closeCode` was queued and the session is CLOSED (§7.1.7). */
  sessionError(error: ProtocolError): void;
  /**
   * A compressed data message arrived (RSV1 with permessage-deflate, RFC 7692 §6), or in frame mode one frame of one
   * (`opcode` CONTINUATION for later frames). `payload` is the compressed bytes. Input stays paused until the
   * transport hands the inflated bytes back with {@link Session.deliverInflated} or gives up with
   * {@link Session.failInflate}. Required when `perMessageDeflate` is on.
   */
  sessionCompressed?(opcode: number, payload: Buffer, fin: boolean): void;
  /**
   * Streaming mode ({@link Session.setStreaming}): bytes of the data message being received, in order, as they
   * arrive (`data` may be a view of a received chunk; text already checked as UTF-8 so far). `end` is true once, with
   * an empty `data`, when the message is complete. `opcode` is the message's TEXT or BINARY. Required for streaming.
   */
  sessionStream?(opcode: number, data: Buffer, end: boolean): void;
}

/** How a session is set up. */
export interface SessionOptions {
  /** Client or server. */
  role: Role;
  /** Largest frame payload accepted. */
  maxFrameBytes: number;
  /** Largest message accepted (reassembled size). */
  maxMessageBytes: number;
  /** Deliver each data frame as it arrives instead of whole messages (noPoll's behaviour). Default false. */
  deliverFrames?: boolean;
  /** RSV bits a negotiated extension uses (0 without extensions). */
  allowedRsv?: number;
  /** permessage-deflate was negotiated: RSV1 marks compressed messages (RFC 7692 §6). Default false. */
  perMessageDeflate?: boolean;
  /** Source of masking keys (clients only); tests pass a fixed one. */
  maskSource?: MaskSource;
}

// A payload up to this size is copied next to its header so one write goes out instead of two.
const MERGE_LIMIT = 4096;
const EMPTY = Buffer.alloc(0);
// RSV1, the permessage-deflate bit (RFC 7692 §6); also or-ed into #messageOpcode to mark a compressed message.
const RSV1 = 0x40;

/** The protocol state machine of an open WebSocket connection. See the module comment. */
export class Session implements FrameSink {
  readonly #handler: SessionHandler;
  // Made on the first byte received (see #parserNow): an idle connection holds no parser.
  #parser: FrameParser | null = null;
  readonly #allowedRsv: number;
  readonly #client: boolean;
  readonly #deliverFrames: boolean;
  readonly #maskSource: MaskSource;
  #mask: Buffer | null = null; // clients only, allocated on first send
  #state: SessionState = SessionState.OPEN;
  #closeSent = false;
  #closeReceived = false;
  // Incoming message being reassembled (whole-message mode) or validated (both modes).
  #messageOpcode = 0;
  #parts: Buffer[] | null = null; // frames of a fragmented message, allocated when one arrives
  #partsBytes = 0;
  #utf8: Utf8Validator | null = null;
  // The frame being received arrived in parts that were already checked as UTF-8 (see onFramePart).
  #partsChecked = false;
  // Outgoing fragmented message: the opcode of its first frame, or 0 when none is open.
  #sendingFragmented = 0;
  // permessage-deflate: RSV1 when negotiated, else 0 (another extension's RSV1 stays raw); the frame handed to the
  // transport to inflate (its opcode, | 0x80 when final); the limits (for inflateLimit).
  readonly #compressedRsv: number;
  #inflating = 0;
  #maxFrameBytes: number;
  #maxMessageBytes: number;
  // Streaming mode (setStreaming): data messages go to sessionStream part by part.
  #streaming = false;

  constructor(handler: SessionHandler, options: SessionOptions) {
    this.#handler = handler;
    this.#client = options.role === 'client';
    this.#deliverFrames = options.deliverFrames ?? false;
    this.#maskSource = options.maskSource ?? randomMaskSource;
    this.#compressedRsv = options.perMessageDeflate === true ? RSV1 : 0;
    if (this.#compressedRsv !== 0 && typeof handler.sessionCompressed !== 'function') {
      throw new TypeError('perMessageDeflate needs a handler with sessionCompressed');
    }
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#allowedRsv = (options.allowedRsv ?? 0) | this.#compressedRsv;
  }

  #parserNow(): FrameParser {
    if (this.#parser !== null) return this.#parser;
    const parser = new FrameParser(this, {
      expectMasked: !this.#client,
      maxFrameBytes: this.#maxFrameBytes,
      maxMessageBytes: this.#maxMessageBytes,
      allowedRsv: this.#allowedRsv,
    });
    if (this.#state === SessionState.CLOSED) parser.stop(); // aborted before any byte arrived
    return (this.#parser = parser);
  }

  /** Current state. */
  get state(): SessionState {
    return this.#state;
  }
  /** Whether we sent a close frame. */
  get closeSent(): boolean {
    return this.#closeSent;
  }
  /** Whether the peer's close frame arrived. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }
  /** Bytes of a partly received frame held by the parser. */
  get bufferedBytes(): number {
    return (this.#parser?.bufferedBytes ?? 0) + this.#partsBytes;
  }

  /** Changes the frame and message limits from the next frame on. */
  setLimits(maxFrameBytes: number, maxMessageBytes: number): void {
    this.#maxFrameBytes = maxFrameBytes;
    this.#maxMessageBytes = maxMessageBytes;
    this.#parser?.setLimits(maxFrameBytes, maxMessageBytes);
  }

  /**
   * Most bytes a compressed message may inflate to: the message limit, or in frame mode the frame limit (each
   * inflated frame is delivered on its own). The transport fails the connection with 1009 past it.
   */
  get inflateLimit(): number {
    return this.#deliverFrames ? this.#maxFrameBytes : this.#maxMessageBytes;
  }

  /**
   * Streaming mode, from the next data message on (a message half received goes on as before until its next
   * frame): payload bytes go to {@link SessionHandler.sessionStream} as they arrive and are never assembled, so the
   * frame and message limits do not apply; `maxStreamBytes` limits a message instead (1009 past it). Text is still
   * checked as UTF-8 as it arrives. Compressed messages are still inflated whole (under the message limit) and come
   * through `sessionMessage`.
   */
  setStreaming(on: boolean, maxStreamBytes = Infinity): void {
    if (on && typeof this.#handler.sessionStream !== 'function') throw new TypeError('streaming needs a handler with sessionStream');
    this.#streaming = on;
    this.#parserNow().setStreaming(on, this.#compressedRsv, maxStreamBytes);
  }

  /** Feeds bytes received from the peer. Outputs arrive synchronously through the handler. */
  receive(chunk: Buffer): void {
    (this.#parser ?? this.#parserNow()).push(chunk);
  }

  // ---- FrameSink ----

  /** @internal Called by the parser. */
  onFrame(fin: boolean, rsv: number, opcode: number, payload: Buffer): void {
    if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if ((rsv & this.#compressedRsv) !== 0) return this.#compressedFrame(fin, opcode, payload);
      if (this.#streaming) return this.#streamFrame(fin, opcode, payload);
      this.#messageOpcode = opcode;
      if (fin && !this.#deliverFrames && !this.#partsChecked) {
        if (opcode === Opcode.TEXT && !isValidUtf8(payload)) return this.#failUtf8();
        this.#handler.sessionMessage(opcode, payload, true);
        return;
      }
      if (opcode === Opcode.TEXT && !this.#partsChecked) this.#startUtf8();
      this.#dataFrame(fin, opcode, payload);
    } else if (opcode === Opcode.CONTINUATION) {
      if (this.#messageOpcode > Opcode.BINARY) this.#compressedFrame(fin, opcode, payload);
      else if (this.#streaming) this.#streamFrame(fin, opcode, payload);
      else this.#dataFrame(fin, opcode, payload);
    } else if (opcode === Opcode.PING) {
      // §5.5.2: answer unless the peer's close already arrived, so also while our own close awaits its answer.
      if (this.#state !== SessionState.CLOSED) this.#sendFrame(Opcode.PONG, payload, true);
      this.#handler.sessionPing(payload);
    } else if (opcode === Opcode.PONG) {
      this.#handler.sessionPong(payload);
    } else {
      this.#closeFrame(payload);
    }
  }

  /**
   * @internal Called by the parser for a frame arriving in parts: text is checked part by part so invalid UTF-8
   * fails the connection before the rest of a long frame arrives (§8.1, "fail fast").
   */
  onFramePart(opcode: number, part: Buffer): void {
    if (this.#parser!.frameStreamed) return this.#streamPart(opcode, part);
    if (opcode === Opcode.TEXT) {
      // A compressed frame is checked once inflated (RFC 7692 §6), not on the wire.
      if (this.#compressedRsv !== 0 && this.#parser!.frameRsv !== 0) return;
      if (!this.#partsChecked) this.#startUtf8();
    } else if (opcode !== Opcode.CONTINUATION || this.#messageOpcode !== Opcode.TEXT) {
      return;
    }
    this.#partsChecked = true;
    if (!this.#utf8!.push(part)) this.#failUtf8();
  }

  #startUtf8(): void {
    this.#utf8 ??= new Utf8Validator();
    this.#utf8.reset();
  }

  /** @internal Called by the parser. */
  onParseError(error: ProtocolError): void {
    this.#fail(error);
  }

  // A frame of a fragmented message (or any frame in frame mode): fail-fast UTF-8, then reassemble or deliver.
  #dataFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (this.#messageOpcode === Opcode.TEXT) {
      const utf8 = this.#utf8!;
      const checked = this.#partsChecked;
      this.#partsChecked = false;
      if ((!checked && !utf8.push(payload)) || (fin && !utf8.atBoundary)) return this.#failUtf8();
    }
    if (this.#deliverFrames) {
      this.#handler.sessionMessage(opcode, payload, fin);
      return;
    }
    if (payload.length > 0) {
      (this.#parts ??= []).push(payload);
      this.#partsBytes += payload.length;
    }
    if (!fin) return;
    const parts = this.#parts;
    const message =
      parts === null ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#partsBytes);
    this.#parts = null;
    this.#partsBytes = 0;
    this.#handler.sessionMessage(this.#messageOpcode, message, true);
  }

  // Streaming: part of a frame the parser does not assemble. The first part of a message's first frame starts it.
  #streamPart(opcode: number, part: Buffer): void {
    if (opcode !== Opcode.CONTINUATION && !this.#partsChecked) {
      this.#messageOpcode = opcode;
      if (opcode === Opcode.TEXT) this.#startUtf8();
    }
    if (this.#parts !== null) this.#streamParts();
    this.#partsChecked = true;
    if (this.#messageOpcode === Opcode.TEXT && !this.#utf8!.push(part)) return this.#failUtf8();
    this.#handler.sessionStream!(this.#messageOpcode, part, false);
  }

  // Streaming: a data frame ends. Its payload is here when it arrived whole, else it went out in parts already.
  #streamFrame(fin: boolean, opcode: number, payload: Buffer): void {
    const checked = this.#partsChecked;
    this.#partsChecked = false;
    if (opcode !== Opcode.CONTINUATION) {
      this.#messageOpcode = opcode;
      if (opcode === Opcode.TEXT && !checked) this.#startUtf8();
    }
    if (this.#parts !== null) this.#streamParts();
    const text = this.#messageOpcode === Opcode.TEXT;
    if (payload.length > 0) {
      if (text && !checked && !this.#utf8!.push(payload)) return this.#failUtf8();
      this.#handler.sessionStream!(this.#messageOpcode, payload, false);
    }
    if (!fin) return;
    if (text && !this.#utf8!.atBoundary) return this.#failUtf8();
    this.#handler.sessionStream!(this.#messageOpcode, EMPTY, true);
  }

  // Streaming was turned on in the middle of a message: the frames assembled before go out first.
  #streamParts(): void {
    const parts = this.#parts!;
    this.#parts = null;
    this.#partsBytes = 0;
    for (const part of parts) this.#handler.sessionStream!(this.#messageOpcode, part, false);
  }

  // A frame of a compressed message (RFC 7692 §6). Whole-message mode gathers the compressed frames and hands the
  // message over at its last frame; frame mode hands over each frame. The parser pauses until the inflated bytes
  // come back (deliverInflated), so nothing after this message is processed before it is delivered.
  #compressedFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode !== Opcode.CONTINUATION) this.#messageOpcode = opcode | RSV1;
    let data = payload;
    if (!this.#deliverFrames) {
      if (!fin) {
        if (payload.length > 0) {
          (this.#parts ??= []).push(payload);
          this.#partsBytes += payload.length;
        }
        return;
      }
      const parts = this.#parts;
      if (parts !== null) {
        if (payload.length > 0) parts.push(payload);
        data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#partsBytes + payload.length);
        this.#parts = null;
        this.#partsBytes = 0;
      }
      opcode = this.#messageOpcode & 0x0f;
    }
    this.#inflating = fin ? opcode | 0x80 : opcode;
    this.#parser!.pause();
    this.#handler.sessionCompressed!(opcode, data, fin);
  }

  /**
   * The transport's answer to {@link SessionHandler.sessionCompressed}: the inflated bytes of that message (or frame).
   * Text is checked as UTF-8 here, on the inflated data (§8.1; RFC 7692 §6), the message is delivered, and input
   * resumes. Ignored once the session is closed by a failure or an abort.
   */
  deliverInflated(data: Buffer): void {
    if (this.#state === SessionState.CLOSED && this.#parserNow().stopped) return;
    const opcode = this.#inflating & 0x0f;
    const fin = this.#inflating >= 0x80;
    const text = (this.#messageOpcode & 0x0f) === Opcode.TEXT;
    if (!this.#deliverFrames) {
      if (text && !isValidUtf8(data)) return this.#failUtf8();
    } else if (text) {
      if (opcode === Opcode.TEXT) this.#startUtf8();
      const utf8 = this.#utf8!;
      if (!utf8.push(data) || (fin && !utf8.atBoundary)) return this.#failUtf8();
    }
    this.#handler.sessionMessage(opcode, data, fin);
    this.#parser!.resume();
  }

  /** The transport could not inflate: fails the connection with `error` (1009 over the limit, 1007 corrupt data). */
  failInflate(error: ProtocolError): void {
    if (this.#state === SessionState.CLOSED && this.#parserNow().stopped) return;
    this.#fail(error);
  }

  #closeFrame(payload: Buffer): void {
    const body = parseCloseBody(payload);
    if (body instanceof ProtocolError) return this.#fail(body);
    this.#closeReceived = true;
    this.#parserNow().stop(); // §5.5.1: nothing after a close frame is data
    if (!this.#closeSent) {
      // Echo the status received (§5.5.1); 1005 means there was none, so the echo has no body either.
      this.#closeSent = true;
      this.#sendFrame(Opcode.CLOSE, body.code === CloseCode.NO_STATUS ? EMPTY : encodeCloseBody(body.code), true);
    }
    this.#state = SessionState.CLOSED;
    this.#handler.sessionClose(body.code, body.reason);
  }

  #failUtf8(): void {
    this.#fail(new InvalidPayloadError('text message is not valid UTF-8'));
  }

  #fail(error: ProtocolError): void {
    this.#parserNow().stop();
    this.#parts = null;
    this.#partsBytes = 0;
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#sendFrame(Opcode.CLOSE, encodeCloseBody(error.closeCode), true);
    }
    this.#state = SessionState.CLOSED;
    this.#handler.sessionError(error);
  }

  // ---- sending ----

  /**
   * Sends a whole text message. A string is encoded straight into the frame buffer; a Buffer must hold valid
   * UTF-8 (TypeError otherwise, §5.6).
   * @returns the payload bytes sent, or -1 when the session no longer sends data (closing or closed).
   */
  sendText(data: string | Uint8Array): number {
    if (typeof data !== 'string') {
      if (!isValidUtf8(data)) throw new TypeError('text payload is not valid UTF-8');
      return this.sendMessage(Opcode.TEXT, data);
    }
    if (this.#state !== SessionState.OPEN) return -1;
    this.#checkNoFragmentedSend();
    const length = Buffer.byteLength(data, 'utf8');
    const headerSize = frameHeaderSize(length, this.#client);
    const frame = Buffer.allocUnsafe(headerSize + length);
    const mask = this.#client ? this.#nextMask() : null;
    writeFrameHeader(frame, 0, true, 0, Opcode.TEXT, length, mask);
    frame.write(data, headerSize, 'utf8');
    if (mask !== null && length > 0) applyMask(frame.subarray(headerSize), mask, 0);
    this.#handler.sessionWrite(frame, null);
    return length;
  }

  /**
   * Sends a whole message with the given data opcode (TEXT payloads are not re-validated here).
   * @returns the payload bytes sent, or -1 when the session no longer sends data.
   */
  sendMessage(opcode: number, data: Uint8Array, rsv = 0): number {
    if (this.#state !== SessionState.OPEN) return -1;
    this.#checkNoFragmentedSend();
    this.#sendFrame(opcode, data, true, rsv);
    return data.length;
  }

  /**
   * Frames a message, or one frame of one, whose payload the transport compressed after the application sent it
   * (RFC 7692 §6: RSV1 on the first frame only; `opcode` is TEXT/BINARY for it, CONTINUATION after). No state
   * check: the message was accepted while the session was open, and the transport holds later writes (a close
   * echo among them) behind it, so it still goes out first.
   */
  writeCompressed(opcode: number, data: Uint8Array, fin: boolean): void {
    this.#sendFrame(opcode, data, fin, opcode === Opcode.CONTINUATION ? 0 : RSV1);
  }

  /**
   * Sends one frame of a fragmented message (§5.4): the first carries `kind`, later ones CONTINUATION, and
   * `fin` ends the message. Control frames may be sent in between.
   * @returns the payload bytes sent, or -1 when the session no longer sends data.
   */
  sendFragment(kind: typeof Opcode.TEXT | typeof Opcode.BINARY, data: Uint8Array, fin: boolean): number {
    if (this.#state !== SessionState.OPEN) return -1;
    if (this.#sendingFragmented !== 0 && this.#sendingFragmented !== kind) {
      throw new TypeError('a fragmented message of the other type is still open');
    }
    const opcode = this.#sendingFragmented === 0 ? kind : Opcode.CONTINUATION;
    this.#sendingFragmented = fin ? 0 : kind;
    this.#sendFrame(opcode, data, fin);
    return data.length;
  }

  /** The opcode (TEXT or BINARY) of the fragmented message being sent, or 0 when none is open. */
  get sendingFragmented(): number {
    return this.#sendingFragmented;
  }

  /**
   * Sends a ping with up to 125 bytes of payload (§5.5.2).
   * @returns false when the session is no longer open.
   */
  ping(data: Uint8Array = EMPTY): boolean {
    return this.#control(Opcode.PING, data);
  }

  /** Sends an unsolicited pong (§5.5.3). @returns false when the session is no longer open. */
  pong(data: Uint8Array = EMPTY): boolean {
    return this.#control(Opcode.PONG, data);
  }

  /**
   * Starts the closing handshake (§7.1.2): sends a close frame with the code and reason (none when `code` is
   * undefined). Idempotent: returns false if a close frame was already sent.
   * @throws RangeError for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): boolean {
    const body = encodeCloseBody(code, reason);
    if (this.#closeSent || this.#state === SessionState.CLOSED) return false;
    this.#closeSent = true;
    this.#state = SessionState.CLOSING;
    this.#sendFrame(Opcode.CLOSE, body, true);
    return true;
  }

  /** Marks the session closed without a handshake (the transport lost the connection). */
  abort(): void {
    this.#parser?.stop(); // none yet: #parserNow makes it stopped
    this.#state = SessionState.CLOSED;
  }

  #control(opcode: number, data: Uint8Array): boolean {
    if (data.length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${data.length} bytes; at most 125`);
    if (this.#state !== SessionState.OPEN) return false;
    this.#sendFrame(opcode, data, true);
    return true;
  }

  #checkNoFragmentedSend(): void {
    if (this.#sendingFragmented !== 0) throw new TypeError('a fragmented message is still open; finish it first');
  }

  #nextMask(): Buffer {
    const mask = (this.#mask ??= Buffer.allocUnsafe(4));
    this.#maskSource(mask, 0);
    return mask;
  }

  // Frames and hands one payload to the handler: clients copy it masked (never mask the caller's buffer), servers
  // send small payloads in one buffer with their header and larger ones as header + the caller's buffer.
  #sendFrame(opcode: number, data: Uint8Array, fin: boolean, rsv = 0): void {
    const length = data.length;
    if (this.#client) {
      const headerSize = frameHeaderSize(length, true);
      const frame = Buffer.allocUnsafe(headerSize + length);
      const mask = this.#nextMask();
      writeFrameHeader(frame, 0, fin, rsv, opcode, length, mask);
      copyMasked(data, frame, headerSize, mask);
      this.#handler.sessionWrite(frame, null);
      return;
    }
    const headerSize = frameHeaderSize(length, false);
    if (length <= MERGE_LIMIT) {
      const frame = Buffer.allocUnsafe(headerSize + length);
      writeFrameHeader(frame, 0, fin, rsv, opcode, length, null);
      frame.set(data, headerSize);
      this.#handler.sessionWrite(frame, null);
      return;
    }
    const header = Buffer.allocUnsafe(headerSize);
    writeFrameHeader(header, 0, fin, rsv, opcode, length, null);
    this.#handler.sessionWrite(header, toBuffer(data));
  }
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
