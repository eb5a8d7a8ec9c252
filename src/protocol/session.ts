/**
 * One WebSocket endpoint's protocol state after the opening handshake (RFC 6455 §5-§7): it turns received bytes
 * into messages and control events, and messages into framed bytes. No sockets, no timers: outputs go to a
 * {@link SessionHandler} that the transport implements, so the whole core can be driven by feeding it bytes.
 * @packageDocumentation
 */
import { ProtocolError } from '../errors.js';
import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { encodeCloseBody, parseCloseBody } from './close.js';
import { COMPRESSED_RSV } from './extensions/deflate-framing.js';
import { FrameParser } from './frame-parser.js';
import { FrameWriter, type FrameOutput } from './frame-writer.js';
import { randomMaskSource, type MaskSource } from './mask.js';
import { MessageAssembler } from './message-assembler.js';
import type { InboundBudget } from './message-buffer.js';
import { checkWholeMessage, OutgoingMessages } from './outgoing.js';
import { SessionLimits } from './session-limits.js';

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
export interface SessionHandler extends FrameOutput {
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
   * (`opcode` CONTINUATION for later frames). `payload` is the compressed bytes. Parsing stays paused (the rest of
   * the input is held) until the transport has inflated and delivered it and calls {@link Session.resume}, or fails
   * the connection with {@link Session.fail}. Required when `perMessageDeflate` is on.
   */
  sessionCompressed?(opcode: number, payload: Buffer, fin: boolean): void;
  /**
   * Streaming mode ({@link Session.setStreaming}): bytes of the data message being received, in order, as they
   * arrive (`data` may be a view of a received chunk; small parts are copied together and handed on once per
   * received chunk; text already checked as UTF-8 so far). `end` is true once, with an empty `data`, when the
   * message is complete. `opcode` is the message's TEXT or BINARY. Required for streaming.
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
  /** Account charged with the bytes of partly received messages (shared by connections); none by default. */
  budget?: InboundBudget | null;
}

const EMPTY = Buffer.alloc(0);

// The session's small state, packed into one integer (an idle connection is a few fields): the state in the low two
// bits, then flags; the RSV bits an extension may set sit where they sit in a frame's first byte (0x70).
const STATE_BITS = 0x3;
const CLOSE_SENT = 0x4;
const CLOSE_RECEIVED = 0x8;
const RSV_BITS = 0x70;
const DELIVER_FRAMES = 0x80;
const DEFLATE = 0x100; // permessage-deflate: RSV1 marks compressed messages

/** The protocol state machine of an open WebSocket connection. See the module comment. */
export class Session extends FrameWriter<SessionHandler> {
  // Made on the first byte received (see #parserNow): an idle connection holds no parser nor assembler.
  #parser: FrameParser | null = null;
  #assembler: MessageAssembler | null = null;
  // The rules of what we send (fragment types, UTF-8): made on the first fragmented send.
  #outgoing: OutgoingMessages | null = null;
  #bits: number;
  #limits: SessionLimits;

  constructor(handler: SessionHandler, options: SessionOptions) {
    super(handler, options.role === 'client', options.maskSource ?? randomMaskSource);
    const deflate = options.perMessageDeflate === true;
    if (deflate && typeof handler.sessionCompressed !== 'function') {
      throw new TypeError('perMessageDeflate needs a handler with sessionCompressed');
    }
    const rsv = ((options.allowedRsv ?? 0) | (deflate ? COMPRESSED_RSV : 0)) & RSV_BITS;
    this.#bits =
      SessionState.OPEN | rsv | (options.deliverFrames === true ? DELIVER_FRAMES : 0) | (deflate ? DEFLATE : 0);
    this.#limits = SessionLimits.of(options.maxFrameBytes, options.maxMessageBytes, options.budget ?? null);
  }

  /** @internal */
  private parserNow(): FrameParser {
    if (this.#parser !== null) return this.#parser;
    const bits = this.#bits;
    const limits = this.#limits;
    const parser = new FrameParser(this, {
      expectMasked: !this.isClient,
      maxFrameBytes: limits.maxFrameBytes,
      allowedRsv: bits & RSV_BITS,
    });
    this.#assembler = new MessageAssembler(this.output, this, {
      maxMessageBytes: limits.maxMessageBytes,
      deliverFrames: (bits & DELIVER_FRAMES) !== 0,
      compressedRsv: (bits & DEFLATE) !== 0 ? COMPRESSED_RSV : 0,
      budget: limits.budget,
    });
    if (this.state === SessionState.CLOSED) parser.stop(); // aborted before any byte arrived
    return (this.#parser = parser);
  }

  /** Current state. */
  get state(): SessionState {
    return (this.#bits & STATE_BITS) as SessionState;
  }
  /** Whether we sent a close frame. */
  get closeSent(): boolean {
    return (this.#bits & CLOSE_SENT) !== 0;
  }
  /** Whether the peer's close frame arrived. */
  get closeReceived(): boolean {
    return (this.#bits & CLOSE_RECEIVED) !== 0;
  }

  // The state, in the low bits.
  /** @internal */
  private enter(state: SessionState): void {
    this.#bits = (this.#bits & ~STATE_BITS) | state;
  }
  /** Bytes of a partly received frame and message held by the parser and the assembler. */
  get bufferedBytes(): number {
    return (this.#parser?.bufferedBytes ?? 0) + (this.#assembler?.bufferedBytes ?? 0);
  }
  /** True while a data message has started arriving and has not ended (a frame or a fragmented message). */
  get receivingMessage(): boolean {
    return this.#parser !== null && (this.#parser.midFrame || this.#assembler!.messageOpen);
  }

  /** Changes the frame and message limits from the next frame on. */
  setLimits(maxFrameBytes: number, maxMessageBytes: number): void {
    this.#limits = SessionLimits.of(maxFrameBytes, maxMessageBytes, this.#limits.budget);
    this.#parser?.setMaxFrameBytes(maxFrameBytes);
    this.#assembler?.setMaxMessageBytes(maxMessageBytes);
  }

  /**
   * Most bytes a compressed message may inflate to: the message limit, or in frame mode the frame limit (each
   * inflated frame is delivered on its own). The transport fails the connection with 1009 past it.
   */
  get inflateLimit(): number {
    const limits = this.#limits;
    return (this.#bits & DELIVER_FRAMES) !== 0 ? limits.maxFrameBytes : limits.maxMessageBytes;
  }

  /** True in frame mode (`deliverFrames`). */
  get deliversFrames(): boolean {
    return (this.#bits & DELIVER_FRAMES) !== 0;
  }

  /**
   * Streaming mode on or off, from the next data message on (a message under way keeps its mode): payload bytes go
   * to {@link SessionHandler.sessionStream} as they arrive and are never assembled, so the frame and message limits
   * do not apply; `maxStreamBytes` limits a message instead (1009 past it). Text is still checked as UTF-8 as it
   * arrives. Compressed messages are still inflated whole (under the message limit) and come through
   * `sessionCompressed`.
   */
  setStreaming(on: boolean, maxStreamBytes = Infinity): void {
    if (on && typeof this.output.sessionStream !== 'function')
      throw new TypeError('streaming needs a handler with sessionStream');
    // The assembler keeps the mode (made now if no byte arrived yet: a streaming connection is not an idle one).
    if (this.#assembler === null) this.parserNow();
    this.#assembler!.setStreaming(on, maxStreamBytes === Infinity ? -1 : maxStreamBytes);
  }

  /**
   * Feeds bytes received from the peer. Outputs arrive synchronously through the handler. `transient`: the chunk's
   * memory is reused once this returns (a shared read buffer), so every payload handed on is a copy.
   */
  receive(chunk: Buffer, transient = false): void {
    (this.#parser ?? this.parserNow()).push(chunk, transient);
    this.#assembler!.flush();
  }

  /** Continues parsing after a compressed message was delivered (see {@link SessionHandler.sessionCompressed}). */
  resume(): void {
    if (this.state === SessionState.CLOSED && this.parserNow().stopped) return;
    this.#parser!.resume();
    this.#assembler!.flush();
  }

  /** True while parsing waits for {@link resume}. */
  get paused(): boolean {
    return this.#parser?.paused ?? false;
  }

  // ---- FrameSink and AssemblerOwner ----

  /** @internal Called by the parser. */
  onDataHeader(fin: boolean, rsv: number, opcode: number, length: number): number {
    return this.#assembler!.header(fin, rsv, opcode, length);
  }

  /** @internal Called by the parser. */
  onFrame(fin: boolean, _rsv: number, opcode: number, payload: Buffer): void {
    if (opcode <= Opcode.BINARY) {
      this.#assembler!.frame(fin, payload);
    } else if (opcode === Opcode.PING) {
      // §5.5.2: answer unless the peer's close already arrived, so also while our own close awaits its answer.
      if (this.state !== SessionState.CLOSED) this.writeFrame(Opcode.PONG, payload, true);
      this.output.sessionPing(payload);
    } else if (opcode === Opcode.PONG) {
      this.output.sessionPong(payload);
    } else {
      this.closeFrame(payload);
    }
  }

  /** @internal Called by the parser for a data frame arriving in parts. */
  onFramePart(part: Buffer): void {
    this.#assembler!.part(part);
  }

  /** @internal Called by the parser. */
  onParseError(error: ProtocolError): void {
    this.fail(error);
  }

  /** @internal Called by the assembler. */
  failMessage(error: ProtocolError): void {
    this.fail(error);
  }

  /** @internal Called by the assembler: a compressed message goes to the transport; hold the rest of the input. */
  pauseInput(): void {
    this.#parser!.pause();
  }

  /** @internal */
  private closeFrame(payload: Buffer): void {
    const body = parseCloseBody(payload);
    if (body instanceof ProtocolError) return this.fail(body);
    this.#bits |= CLOSE_RECEIVED;
    this.parserNow().stop(); // §5.5.1: nothing after a close frame is data
    this.#assembler!.reset();
    if (!this.closeSent) {
      // Echo the status received (§5.5.1); 1005 means there was none, so the echo has no body either.
      this.#bits |= CLOSE_SENT;
      this.writeFrame(Opcode.CLOSE, body.code === CloseCode.NO_STATUS ? EMPTY : encodeCloseBody(body.code), true);
    }
    this.enter(SessionState.CLOSED);
    this.output.sessionClose(body.code, body.reason);
  }

  /**
   * Fails the connection (§7.1.7): the peer broke a rule (or a compressed message could not be inflated: 1009 over
   * the limit, 1007 corrupt data, the transport says so). Sends a close frame with `error.closeCode` unless one was
   * sent, stops parsing, and reports `error`. Ignored once the session is closed.
   */
  fail(error: ProtocolError): void {
    if (this.state === SessionState.CLOSED && this.parserNow().stopped) return;
    this.parserNow().stop();
    this.#assembler!.reset();
    if (!this.closeSent) {
      this.#bits |= CLOSE_SENT;
      this.writeFrame(Opcode.CLOSE, encodeCloseBody(error.closeCode), true);
    }
    this.enter(SessionState.CLOSED);
    this.output.sessionError(error);
  }

  // ---- sending ----

  /**
   * Sends a message, or one frame of a fragmented message (§5.4): `kind` is TEXT or BINARY, `fin` false leaves the
   * message open for more frames (later ones go out as CONTINUATION), and a send with `fin` of the same type ends
   * it. A string is encoded straight into the frame buffer; text bytes must be valid UTF-8 (§5.6). Control frames
   * may be sent in between.
   * @returns the payload bytes sent, or -1 when the session no longer sends data (closing or closed).
   * @throws TypeError for text that cannot be UTF-8, or a frame of the other type while a message is open.
   */
  sendData(kind: number, data: string | Uint8Array, fin = true): number {
    if (this.state !== SessionState.OPEN) return -1;
    const opcode = this.checkSend(kind, data, fin);
    if (typeof data !== 'string') {
      this.writeFrame(opcode, data, fin);
      return data.length;
    }
    return this.writeTextFrame(opcode, data, fin);
  }

  /** A whole text message: {@link sendData} with TEXT. */
  sendText(data: string | Uint8Array): number {
    return this.sendData(Opcode.TEXT, data, true);
  }

  /**
   * Accepts a message (or frame) that the transport compresses before it is framed (RFC 7692 §6): the same checks
   * as {@link sendData}. Returns the opcode its frame will carry (for {@link writeCompressed}), or -1 when the
   * session no longer sends data.
   */
  beginCompressed(kind: number, data: Uint8Array, fin: boolean): number {
    if (this.state !== SessionState.OPEN) return -1;
    return this.checkSend(kind, data, fin);
  }

  /**
   * Frames a message, or one frame of one, whose payload the transport compressed after {@link beginCompressed}
   * accepted it (RFC 7692 §6: RSV1 on the first frame only). No state check: the message was accepted while the
   * session was open, and the transport holds later writes (a close echo among them) behind it, so it still goes
   * out first.
   */
  writeCompressed(opcode: number, data: Uint8Array, fin: boolean): void {
    this.writeFrame(opcode, data, fin, opcode === Opcode.CONTINUATION ? 0 : COMPRESSED_RSV);
  }

  /** The opcode (TEXT or BINARY) of the fragmented message being sent, or 0 when none is open. */
  get sendingFragmented(): number {
    return this.#outgoing?.open ?? 0;
  }

  // A whole message with nothing open needs no state: the rules' object is made for fragmented sends only.
  /** @internal */
  private checkSend(kind: number, data: string | Uint8Array, fin: boolean): number {
    if (fin && (this.#outgoing === null || this.#outgoing.open === 0)) return checkWholeMessage(kind, data);
    return (this.#outgoing ??= new OutgoingMessages()).next(kind, data, fin);
  }

  /**
   * Sends a ping with up to 125 bytes of payload (§5.5.2).
   * @returns false when the session is no longer open.
   */
  ping(data: Uint8Array = EMPTY): boolean {
    return this.control(Opcode.PING, data);
  }

  /** Sends an unsolicited pong (§5.5.3). @returns false when the session is no longer open. */
  pong(data: Uint8Array = EMPTY): boolean {
    return this.control(Opcode.PONG, data);
  }

  /**
   * Starts the closing handshake (§7.1.2): sends a close frame with the code and reason (none when `code` is
   * undefined). Idempotent: returns false if a close frame was already sent.
   * @throws RangeError for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): boolean {
    const body = encodeCloseBody(code, reason);
    if (this.closeSent || this.state === SessionState.CLOSED) return false;
    this.#bits |= CLOSE_SENT;
    this.enter(SessionState.CLOSING);
    this.writeFrame(Opcode.CLOSE, body, true);
    return true;
  }

  /** Marks the session closed without a handshake (the transport lost the connection). */
  abort(): void {
    this.#parser?.stop(); // none yet: #parserNow makes it stopped
    this.#assembler?.reset(); // gives the budget back
    this.enter(SessionState.CLOSED);
  }

  /** @internal */
  private control(opcode: number, data: Uint8Array): boolean {
    if (data.length > MAX_CONTROL_PAYLOAD)
      throw new RangeError(`control frame payload of ${data.length} bytes; at most 125`);
    if (this.state !== SessionState.OPEN) return false;
    this.writeFrame(opcode, data, true);
    return true;
  }
}
